import { and, desc, eq, lt, or, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { decisionLog, decisionReplays } from './tables.js';

export type DecisionLogRow = typeof decisionLog.$inferSelect;
export type ReplayRow = typeof decisionReplays.$inferSelect;

/**
 * The whole chunk as one jsonb parameter: building a many-row insert through the query
 * builder cost more CPU on the hot process than the database spent inserting.
 */
export async function insertLog(db: Executor, rows: DecisionLogRow[]): Promise<void> {
  if (rows.length === 0) return;
  const json = JSON.stringify(rows.map((r) => ({
    tenant_id: r.tenantId, id: r.id, principal_type: r.principalType, principal_id: r.principalId, user_id: r.userId,
    operation: r.operation, module: r.module, model: r.model, allowed: r.allowed, code: r.code, credits: r.credits,
    reservation_id: r.reservationId, bypass: r.bypass, idempotency_key: r.idempotencyKey, replayed: r.replayed,
    request_id: r.requestId, created_at: r.createdAt.toISOString(),
  })));
  await db.execute(sql`INSERT INTO decision_log SELECT * FROM jsonb_populate_recordset(NULL::decision_log, ${json}::jsonb) ON CONFLICT DO NOTHING`);
}

export async function findReplay(db: Executor, tenantId: string, key: string): Promise<ReplayRow | undefined> {
  const [row] = await db.select().from(decisionReplays)
    .where(and(eq(decisionReplays.tenantId, tenantId), eq(decisionReplays.idempotencyKey, key)));
  return row;
}

export async function insertReplay(db: Executor, row: ReplayRow): Promise<void> {
  await db.insert(decisionReplays).values(row).onConflictDoNothing();
}

export async function listLog(db: Executor, q: { tenantId: string; allowed?: boolean | undefined; before?: { createdAt: Date; id: string } | undefined; limit: number }): Promise<DecisionLogRow[]> {
  const conditions = [eq(decisionLog.tenantId, q.tenantId)];
  if (q.allowed !== undefined) conditions.push(eq(decisionLog.allowed, q.allowed));
  if (q.before) {
    conditions.push(or(lt(decisionLog.createdAt, q.before.createdAt),
      and(eq(decisionLog.createdAt, q.before.createdAt), lt(decisionLog.id, q.before.id)))!);
  }
  return db.select().from(decisionLog).where(and(...conditions))
    .orderBy(desc(decisionLog.createdAt), desc(decisionLog.id)).limit(q.limit);
}
