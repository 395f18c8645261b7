import { and, eq, sql } from 'drizzle-orm';
import { arrayLiteral } from '../../db/array-literal.js';
import { rows, type Executor } from '../../db/client.js';
import { newestFirst, newestRowFirst, olderThan } from '../../db/columns.js';
import type { Position } from '../../lib/cursor.js';
import type { Period } from '../billing/index.js';
import { meterEventId, meterEventRecords, type ReservationRow } from '../credits/index.js';
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

/**
 * limit.threshold for meters whose limit just changed (an override, a plan): every
 * threshold the period's count already stands at under the new limit, by the decision's
 * own rule (db/functions/events.sql), each once per period as ever — a limit lowered to or
 * below the count would otherwise refuse the tenant at 100 % without the alert meant to
 * warn it, since no admission moves the count across a threshold any more.
 */
export async function announceStanding(db: Executor, tenantId: string, periodStart: Date, meters: { meter: string; used: number; limit: number }[], at: Date): Promise<void> {
  if (meters.length === 0) return;
  const start = periodStart.toISOString();
  await rows(db, sql`SELECT tollgate_limit_crossings(
    ${arrayLiteral(meters.map(() => tenantId))}::text[], ${arrayLiteral(meters.map((m) => m.meter))}::text[], ${arrayLiteral(meters.map(() => start))}::timestamptz[],
    ${arrayLiteral(meters.map(() => 0))}::bigint[], ${arrayLiteral(meters.map((m) => m.used))}::bigint[], ${arrayLiteral(meters.map((m) => m.limit))}::bigint[],
    ${at.toISOString()}::timestamptz) AS done`);
}

export async function usedInPeriod(db: Executor, tenantId: string, periodStart: Date): Promise<Map<string, number>> {
  const found = await db.select({ meter: usageCounters.meter, used: usageCounters.used }).from(usageCounters)
    .where(and(eq(usageCounters.tenantId, tenantId), eq(usageCounters.periodStart, periodStart)));
  return new Map(found.map((r) => [r.meter, Number(r.used)]));
}

/**
 * A tenant's usage events, newest first: usage_events' rows (key caps, the consume route,
 * and every event from before 0020) and the meter events that allowed decisions'
 * reservations record since, each read up to `limit` through its own index and merged.
 */
export async function listEvents(db: Executor, tenantId: string, before: Position | undefined, limit: number): Promise<UsageEventRow[]> {
  const logged = await db.select().from(usageEvents).where(and(eq(usageEvents.tenantId, tenantId), olderThan(usageEvents.createdAt, usageEvents.id, before)))
    .orderBy(...newestFirst(usageEvents.createdAt, usageEvents.id)).limit(limit);
  const recorded = (await meterEventRecords(db, { tenantId, before, limit })).map(eventOf);
  return [...logged, ...recorded].sort(newestRowFirst).slice(0, limit);
}

/** A decision's meter usage event as its reservation records it (0020), spelled as a usage_events row. */
function eventOf(r: ReservationRow): UsageEventRow {
  return {
    tenantId: r.tenantId, id: meterEventId(r), meter: r.meter!, quantity: 1, periodStart: r.periodStart!, bypass: r.bypass, role: r.role,
    actorType: r.actorType ?? '', actorId: r.actorId, usedAfter: r.usedAfter ?? 0, limitValue: r.limitValue, createdAt: r.createdAt,
  };
}

/**
 * Takes a concurrent-run slot: under the lock of the tenant's count row, slots that have
 * expired are let go, the same lease id renews its slot (renewing is free), else a slot is
 * taken while the count is under `limit`. Returns the live count after, or null when
 * every slot is taken. The count row is locked before any slot row, as the decision does.
 */
export async function acquireLease(db: Executor, l: { tenantId: string; leaseId: string; expiresAt: Date; limit: number; now: Date }): Promise<number | null> {
  if (l.limit < 1) return null;
  const now = l.now.toISOString();
  const held = await lockSlotCount(db, l.tenantId, now);
  const [pruned] = await rows<{ n: number }>(db, sql`
    WITH gone AS (DELETE FROM run_slots WHERE tenant_id = ${l.tenantId} AND expires_at <= ${now}::timestamptz RETURNING 1)
    SELECT count(*)::int AS n FROM gone`);
  let live = held - Number(pruned?.n ?? 0);
  const renewed = await rows(db, sql`
    UPDATE run_slots SET expires_at = ${l.expiresAt.toISOString()}::timestamptz WHERE tenant_id = ${l.tenantId} AND id = ${l.leaseId} RETURNING id`);
  const taken = renewed.length === 0 && live < l.limit;
  if (taken) {
    await db.execute(sql`INSERT INTO run_slots (tenant_id, id, expires_at) VALUES (${l.tenantId}, ${l.leaseId}, ${l.expiresAt.toISOString()}::timestamptz)`);
    live += 1;
  }
  if (live !== held) await db.execute(sql`UPDATE run_leases SET held = ${live}, updated_at = ${now}::timestamptz WHERE tenant_id = ${l.tenantId}`);
  return renewed.length === 1 || taken ? live : null;
}

/**
 * Gives each run in `runs` a slot it lacks (a run admitted while the tenant had no
 * concurrent-run limit was given none), under the lock of the count row, and lets expired
 * slots go as acquiring does; the live count after.
 */
export async function adoptLeases(db: Executor, tenantId: string, runs: readonly { id: string; expiresAt: Date }[], now: Date): Promise<number> {
  const at = now.toISOString();
  const held = await lockSlotCount(db, tenantId, at);
  const [changed] = await rows<{ pruned: number; added: number }>(db, sql`
    WITH gone AS (DELETE FROM run_slots WHERE tenant_id = ${tenantId} AND expires_at <= ${at}::timestamptz RETURNING 1),
    added AS (
      INSERT INTO run_slots (tenant_id, id, expires_at)
      SELECT ${tenantId}, r.id, r.expires_at FROM unnest(${arrayLiteral(runs.map((r) => r.id))}::text[], ${arrayLiteral(runs.map((r) => r.expiresAt))}::timestamptz[]) AS r(id, expires_at)
       WHERE r.expires_at > ${at}::timestamptz
      ON CONFLICT DO NOTHING RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone)::int AS pruned, (SELECT count(*) FROM added)::int AS added`);
  const live = held - Number(changed?.pruned ?? 0) + Number(changed?.added ?? 0);
  if (live !== held) await db.execute(sql`UPDATE run_leases SET held = ${live}, updated_at = ${at}::timestamptz WHERE tenant_id = ${tenantId}`);
  return live;
}

/** Frees a slot (whether or not it has expired yet); false if it is not held. */
export async function releaseLease(db: Executor, tenantId: string, leaseId: string, now: Date): Promise<boolean> {
  // Most reservations resolved hold no slot: those take no lock. A slot is written in the
  // transaction that made its reservation, or in one that kept it from resolving meanwhile
  // (adoptLeases), so one being resolved has its slot in sight.
  const held = await rows(db, sql`SELECT id FROM run_slots WHERE tenant_id = ${tenantId} AND id = ${leaseId}`);
  if (held.length === 0) return false;
  await db.execute(sql`SELECT held FROM run_leases WHERE tenant_id = ${tenantId} FOR UPDATE`);
  const found = await rows(db, sql`
    WITH gone AS (DELETE FROM run_slots WHERE tenant_id = ${tenantId} AND id = ${leaseId} RETURNING id)
    UPDATE run_leases SET held = held - 1, updated_at = ${now.toISOString()}::timestamptz
     WHERE tenant_id = ${tenantId} AND EXISTS (SELECT 1 FROM gone) RETURNING tenant_id`);
  return found.length === 1;
}

/** The tenant's count of held slots, its row created if need be and locked for the transaction. */
async function lockSlotCount(db: Executor, tenantId: string, now: string): Promise<number> {
  const [row] = await rows<{ held: number }>(db, sql`
    INSERT INTO run_leases AS r (tenant_id, held, updated_at) VALUES (${tenantId}, 0, ${now}::timestamptz)
    ON CONFLICT (tenant_id) DO UPDATE SET updated_at = r.updated_at RETURNING r.held`);
  return Number(row!.held);
}

export async function activeLeases(db: Executor, tenantId: string, now: Date): Promise<number> {
  const [row] = await rows<{ n: number }>(db, sql`
    SELECT count(*)::int AS n FROM run_slots WHERE tenant_id = ${tenantId} AND expires_at > ${now.toISOString()}::timestamptz`);
  return Number(row?.n ?? 0);
}
