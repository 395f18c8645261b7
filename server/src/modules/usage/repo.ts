import { and, asc, between, eq, gte, lt, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { usageDays, usageRecords, type UsageOutcome } from './tables.js';

export type UsageRecordRow = typeof usageRecords.$inferSelect;

export interface NewUsageRecord {
  tenantId: string; id: string; reservationId: string; outcome: UsageOutcome; meter: string | null; bypass: boolean;
  operation: string | null; model: string | null; route: Record<string, unknown> | null; quantity: Record<string, number> | null;
  reserved: number; credits: number; actorType: string | null; actorId: string | null; role: string | null;
  idempotencyKey: string; reservedAt: Date; createdAt: Date;
}

/**
 * Appends the run's record and adds it to its UTC day in one statement: the day's
 * 'credits' by what was charged and, for a settled run on a meter, 'meter:<meter>' by one.
 * A second record for the same reservation is not written, nor counted.
 */
export async function insertRecord(db: Executor, r: NewUsageRecord): Promise<void> {
  await db.execute(sql`WITH r AS (
    INSERT INTO usage_records (tenant_id, id, reservation_id, outcome, meter, bypass, operation, model, route, quantity,
                               reserved, credits, actor_type, actor_id, role, idempotency_key, reserved_at, created_at)
    VALUES (${r.tenantId}, ${r.id}, ${r.reservationId}, ${r.outcome}, ${r.meter}, ${r.bypass}, ${r.operation}, ${r.model},
            ${r.route === null ? null : JSON.stringify(r.route)}::jsonb, ${r.quantity === null ? null : JSON.stringify(r.quantity)}::jsonb,
            ${r.reserved}::bigint, ${r.credits}::bigint, ${r.actorType}, ${r.actorId}, ${r.role}, ${r.idempotencyKey},
            ${r.reservedAt.toISOString()}::timestamptz, ${r.createdAt.toISOString()}::timestamptz)
    ON CONFLICT DO NOTHING
    RETURNING tenant_id, created_at, outcome, meter, credits
  )
  INSERT INTO usage_days AS d (tenant_id, day, key, n)
  SELECT r.tenant_id, (r.created_at AT TIME ZONE 'UTC')::date, k.key, k.n
    FROM r CROSS JOIN LATERAL (VALUES ('credits', r.credits),
                                      (CASE WHEN r.outcome = 'settled' THEN 'meter:' || r.meter END, 1::bigint)) AS k(key, n)
   WHERE k.key IS NOT NULL
   ORDER BY k.key
  ON CONFLICT (tenant_id, day, key) DO UPDATE SET n = d.n + EXCLUDED.n`);
}

/** Day counts to add, each (tenant, day, key) once. */
export interface DayCount { tenantId: string; day: string; key: string; n: number }

/**
 * Adds counts to their days. Rows are upserted in (tenant, day, key) order, so two
 * writers adding to overlapping rows lock them in the same order and never deadlock.
 */
export async function addCounts(db: Executor, counts: DayCount[]): Promise<void> {
  if (counts.length === 0) return;
  const sorted = [...counts].sort((a, b) => compare(a.tenantId, b.tenantId) || compare(a.day, b.day) || compare(a.key, b.key));
  const json = JSON.stringify(sorted.map((c) => ({ tenant_id: c.tenantId, day: c.day, key: c.key, n: c.n })));
  await db.execute(sql`INSERT INTO usage_days AS d (tenant_id, day, key, n)
    SELECT tenant_id, day, key, n FROM jsonb_to_recordset(${json}::jsonb) AS c(tenant_id text, day date, key text, n bigint)
    ON CONFLICT (tenant_id, day, key) DO UPDATE SET n = d.n + EXCLUDED.n`);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export async function days(db: Executor, tenantId: string, from: string, to: string): Promise<{ day: string; key: string; n: number }[]> {
  return db.select({ day: usageDays.day, key: usageDays.key, n: usageDays.n }).from(usageDays)
    .where(and(eq(usageDays.tenantId, tenantId), between(usageDays.day, from, to)))
    .orderBy(asc(usageDays.day), asc(usageDays.key));
}

/**
 * Records in [start, end), oldest first, after `after` (a keyset page); of one outcome, or
 * of every one (null). The outcome is a filter on the (tenant, created_at, id) index's
 * rows, not a column of it: released and expired runs are few beside the settled ones.
 */
export async function recordsPage(db: Executor, q: {
  tenantId: string; start: Date; end: Date; outcome: UsageOutcome | null; after: { createdAt: Date; id: string } | undefined; limit: number;
}): Promise<UsageRecordRow[]> {
  const after = q.after ? sql`(${usageRecords.createdAt}, ${usageRecords.id}) > (${q.after.createdAt.toISOString()}::timestamptz, ${q.after.id})` : undefined;
  const outcome = q.outcome === null ? undefined : eq(usageRecords.outcome, q.outcome);
  return db.select().from(usageRecords)
    .where(and(eq(usageRecords.tenantId, q.tenantId), gte(usageRecords.createdAt, q.start), lt(usageRecords.createdAt, q.end), outcome, after))
    .orderBy(asc(usageRecords.createdAt), asc(usageRecords.id)).limit(q.limit);
}
