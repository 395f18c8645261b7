import { and, desc, eq, lt, or } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { decisionLog, decisionReplays } from './tables.js';

export type DecisionLogRow = typeof decisionLog.$inferSelect;
export type ReplayRow = typeof decisionReplays.$inferSelect;

export async function insertLog(db: Executor, rows: DecisionLogRow[]): Promise<void> {
  if (rows.length > 0) await db.insert(decisionLog).values(rows).onConflictDoNothing();
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
