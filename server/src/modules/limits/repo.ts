import { and, eq, sql } from 'drizzle-orm';
import { rows, type Executor } from '../../db/client.js';
import { newestFirst, olderThan } from '../../db/columns.js';
import type { Position } from '../../lib/cursor.js';
import type { Period } from '../billing/index.js';
import { usageCounters, usageEvents } from './tables.js';

export type UsageEventRow = typeof usageEvents.$inferSelect;

/** The usage-log row written with an admitted consumption, in the same statement. */
export interface EventInput { id: string; role: string | null; actorType: string; actorId: string | null; mayBypass: boolean }

/**
 * Check-and-increment in one statement. The row lock taken by ON CONFLICT makes the
 * WHERE see the latest `used`, so concurrent callers can never overshoot `limit`;
 * a refused call writes nothing. `open` skips the check (unlimited meter, bypass role).
 * An admitted call appends its usage event in the same statement, and the limit.threshold
 * events it crosses into the outbox, so the row lock is held for as short a time as possible.
 *
 * The NOT EXISTS refuses without taking the row lock when the statement's snapshot
 * already shows the meter full. That is safe because `used` only grows within a
 * period: a stale value is a lower bound, so "already full" stays true. Admission is
 * still decided only under the lock.
 *
 * Returns whether it was admitted and `used` (after the increment, or as last seen).
 */
export async function consume(db: Executor, c: { tenantId: string; meter: string; period: Period; amount: number; limit: number | null; open: boolean; now: Date }, e: EventInput): Promise<{ admitted: boolean; used: number; bypass: boolean }> {
  const start = c.period.start.toISOString();
  const now = c.now.toISOString();
  const [row] = await rows<{ admitted: string | number | null; seen: string | number | null }>(db, sql`
    WITH c AS (
      INSERT INTO usage_counters AS c (tenant_id, meter, period_start, period_end, used, updated_at)
      SELECT ${c.tenantId}, ${c.meter}, ${start}::timestamptz, ${c.period.end.toISOString()}::timestamptz, ${c.amount}::bigint, ${now}::timestamptz
      WHERE ${c.open}::boolean OR (${c.amount}::bigint <= ${c.limit}::bigint AND NOT EXISTS (
        SELECT 1 FROM usage_counters f WHERE f.tenant_id = ${c.tenantId} AND f.meter = ${c.meter}
          AND f.period_start = ${start}::timestamptz AND f.used + ${c.amount}::bigint > ${c.limit}::bigint))
      ON CONFLICT (tenant_id, meter, period_start) DO UPDATE
        SET used = c.used + EXCLUDED.used, updated_at = EXCLUDED.updated_at
        WHERE ${c.open}::boolean OR c.used + EXCLUDED.used <= ${c.limit}::bigint
      RETURNING c.used
    ), e AS (
      INSERT INTO usage_events (tenant_id, id, meter, quantity, period_start, bypass, role, actor_type, actor_id, used_after, limit_value, created_at)
      SELECT ${c.tenantId}, ${e.id}, ${c.meter}, ${c.amount}::bigint, ${start}::timestamptz,
             ${e.mayBypass}::boolean AND ${c.limit}::bigint IS NOT NULL AND c.used > ${c.limit}::bigint,
             ${e.role}, ${e.actorType}, ${e.actorId}, c.used, ${c.limit}::bigint, ${now}::timestamptz
      FROM c
    ), x AS (
      -- limit.threshold, by the rule the decision's statement applies (db/functions/events.sql), under this row lock.
      SELECT tollgate_limit_crossings(ARRAY[${c.tenantId}]::text[], ARRAY[${c.meter}]::text[], ARRAY[${start}::timestamptz],
               ARRAY[c.used - ${c.amount}::bigint], ARRAY[c.used], ARRAY[${c.limit}::bigint], ${now}::timestamptz) AS done
        FROM c WHERE ${c.limit}::bigint IS NOT NULL
    )
    SELECT (SELECT used FROM c) AS admitted, (SELECT count(*) FROM x) AS announced,
           (SELECT used FROM usage_counters WHERE tenant_id = ${c.tenantId} AND meter = ${c.meter} AND period_start = ${start}::timestamptz) AS seen`);
  const admitted = row?.admitted !== null && row?.admitted !== undefined;
  const used = Number(admitted ? row!.admitted : (row?.seen ?? 0));
  return { admitted, used, bypass: admitted && e.mayBypass && c.limit !== null && used > c.limit };
}

export async function usedInPeriod(db: Executor, tenantId: string, periodStart: Date): Promise<Map<string, number>> {
  const found = await db.select({ meter: usageCounters.meter, used: usageCounters.used }).from(usageCounters)
    .where(and(eq(usageCounters.tenantId, tenantId), eq(usageCounters.periodStart, periodStart)));
  return new Map(found.map((r) => [r.meter, Number(r.used)]));
}

export async function listEvents(db: Executor, tenantId: string, before: Position | undefined, limit: number): Promise<UsageEventRow[]> {
  return db.select().from(usageEvents).where(and(eq(usageEvents.tenantId, tenantId), olderThan(usageEvents.createdAt, usageEvents.id, before)))
    .orderBy(...newestFirst(usageEvents.createdAt, usageEvents.id)).limit(limit);
}

/**
 * Takes a concurrent-run slot in one statement on the tenant's single lease row: live
 * leases (other than this one, so renewing is free) are counted and expired ones pruned
 * under the row lock. Returns the live count after, or null when every slot is taken.
 */
export async function acquireLease(db: Executor, l: { tenantId: string; leaseId: string; expiresAt: Date; limit: number; now: Date }): Promise<number | null> {
  const now = l.now.toISOString();
  const [row] = await rows<{ active: number }>(db, sql`
    INSERT INTO run_leases AS r (tenant_id, leases, updated_at)
    SELECT ${l.tenantId}, jsonb_build_object(${l.leaseId}::text, ${l.expiresAt.toISOString()}::text), ${now}::timestamptz
    WHERE ${l.limit}::bigint >= 1
    ON CONFLICT (tenant_id) DO UPDATE
      SET leases = COALESCE((SELECT jsonb_object_agg(key, value) FROM jsonb_each_text(r.leases)
                             WHERE value::timestamptz > ${now}::timestamptz AND key <> ${l.leaseId}), '{}'::jsonb) || EXCLUDED.leases,
          updated_at = EXCLUDED.updated_at
      WHERE (SELECT count(*) FROM jsonb_each_text(r.leases)
             WHERE value::timestamptz > ${now}::timestamptz AND key <> ${l.leaseId}) < ${l.limit}::bigint
    RETURNING (SELECT count(*) FROM jsonb_each_text(r.leases))::int AS active`);
  return row ? Number(row.active) : null;
}

export async function releaseLease(db: Executor, tenantId: string, leaseId: string, now: Date): Promise<boolean> {
  const found = await rows(db, sql`
    UPDATE run_leases SET leases = leases - ${leaseId}::text, updated_at = ${now.toISOString()}::timestamptz
    WHERE tenant_id = ${tenantId} AND (leases -> ${leaseId}::text) IS NOT NULL RETURNING tenant_id`);
  return found.length === 1;
}

export async function activeLeases(db: Executor, tenantId: string, now: Date): Promise<number> {
  const [row] = await rows<{ n: number }>(db, sql`
    SELECT count(*)::int AS n FROM run_leases, jsonb_each_text(leases)
    WHERE tenant_id = ${tenantId} AND value::timestamptz > ${now.toISOString()}::timestamptz`);
  return Number(row?.n ?? 0);
}
