import { and, count, eq, isNull, lte, sql, type SQL } from 'drizzle-orm';
import { rows, type Executor } from '../../db/client.js';
import { newestFirst, olderThan } from '../../db/columns.js';
import type { Position } from '../../lib/cursor.js';
import { webhookDeliveries, webhookEndpoints, type EventType } from './tables.js';

export type EndpointRow = typeof webhookEndpoints.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;

/** Whose endpoints: a tenant's own, or the operators' (no tenant). */
export type Owner = { tenantId: string } | { tenantId: null };

const ownedBy = (owner: Owner): SQL => owner.tenantId === null ? isNull(webhookEndpoints.ownerTenantId) : eq(webhookEndpoints.ownerTenantId, owner.tenantId);

/** Every endpoint's id and sealed secrets (the current one, and a rotated-out one in its grace), for re-sealing under a new master secret. */
export async function allSealed(db: Executor): Promise<{ id: string; secretSealed: string; previousSecretSealed: string | null }[]> {
  return db.select({ id: webhookEndpoints.id, secretSealed: webhookEndpoints.secretSealed, previousSecretSealed: webhookEndpoints.previousSecretSealed })
    .from(webhookEndpoints);
}

export async function setSealed(db: Executor, id: string, sealed: { secretSealed: string; previousSecretSealed: string | null }): Promise<void> {
  await db.update(webhookEndpoints).set(sealed).where(eq(webhookEndpoints.id, id));
}

/**
 * A new secret for the endpoint; the one it replaces signs beside it until `previousUntil`
 * (null: from now on only the new one). One statement: concurrent rotations queue on the
 * row, and each replaces the one before it.
 */
export async function rotateSecret(db: Executor, owner: Owner, id: string, secretSealed: string, previousUntil: Date | null, now: Date): Promise<EndpointRow | undefined> {
  const [row] = await db.update(webhookEndpoints).set({
    secretSealed,
    previousSecretSealed: previousUntil === null ? null : sql`${webhookEndpoints.secretSealed}`,
    previousSecretExpiresAt: previousUntil,
    updatedAt: now,
  }).where(and(eq(webhookEndpoints.id, id), ownedBy(owner))).returning();
  return row;
}

/** Forgets rotated-out secrets whose grace has ended (they sign nothing any more). */
export async function dropExpiredSecrets(db: Executor, now: Date): Promise<void> {
  await db.update(webhookEndpoints).set({ previousSecretSealed: null, previousSecretExpiresAt: null })
    .where(lte(webhookEndpoints.previousSecretExpiresAt, now));
}

/** How many endpoints the tenant has, enabled or not. */
export async function countEndpoints(db: Executor, tenantId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(webhookEndpoints).where(eq(webhookEndpoints.ownerTenantId, tenantId));
  return Number(row?.n ?? 0);
}

export async function insertEndpoint(db: Executor, row: typeof webhookEndpoints.$inferInsert): Promise<void> {
  await db.insert(webhookEndpoints).values(row);
}

export async function findEndpoint(db: Executor, owner: Owner, id: string): Promise<EndpointRow | undefined> {
  const [row] = await db.select().from(webhookEndpoints).where(and(eq(webhookEndpoints.id, id), ownedBy(owner)));
  return row;
}

export async function listEndpoints(db: Executor, owner: Owner, before: Position | undefined, limit: number): Promise<EndpointRow[]> {
  return db.select().from(webhookEndpoints).where(and(ownedBy(owner), olderThan(webhookEndpoints.createdAt, webhookEndpoints.id, before)))
    .orderBy(...newestFirst(webhookEndpoints.createdAt, webhookEndpoints.id)).limit(limit);
}

export async function deleteEndpoint(db: Executor, owner: Owner, id: string): Promise<boolean> {
  return (await db.delete(webhookEndpoints).where(and(eq(webhookEndpoints.id, id), ownedBy(owner))).returning({ id: webhookEndpoints.id })).length === 1;
}

export async function listDeliveries(db: Executor, endpointId: string, before: Position | undefined, limit: number): Promise<DeliveryRow[]> {
  return db.select().from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.endpointId, endpointId), olderThan(webhookDeliveries.createdAt, webhookDeliveries.id, before)))
    .orderBy(...newestFirst(webhookDeliveries.createdAt, webhookDeliveries.id)).limit(limit);
}

/** A delivery asked again by hand: due now, its attempts counted afresh. */
export async function rearmDelivery(db: Executor, endpointId: string, id: string, now: Date): Promise<DeliveryRow | undefined> {
  const [row] = await db.update(webhookDeliveries)
    .set({ status: 'pending', attempts: 0, nextAttemptAt: now, leaseUntil: null, leaseToken: null, updatedAt: now })
    .where(and(eq(webhookDeliveries.endpointId, endpointId), eq(webhookDeliveries.id, id))).returning();
  return row;
}

/**
 * Fans out up to `limit` events not fanned out yet, oldest first, in one statement: one
 * delivery per enabled endpoint whose filter names the event's type (the tenant's own
 * endpoints and the operators'), made from the endpoint's creation on. The events are
 * locked (SKIP LOCKED: processes share the work) and marked, so each is fanned out once.
 */
export async function fanOut(db: Executor, now: Date, limit: number): Promise<{ events: number; deliveries: number }> {
  const at = now.toISOString();
  const [row] = await rows<{ events: number; deliveries: number }>(db, sql`
    WITH ev AS (
      SELECT tenant_id, id, type, created_at FROM webhook_events
       WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED
    ), dl AS (
      INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, created_at, updated_at)
      SELECT ev.tenant_id, tollgate_new_id('dlv', ${at}::timestamptz), e.id, ev.id, ev.type, 'pending', 0, ${at}::timestamptz, ${at}::timestamptz, ${at}::timestamptz
        FROM ev JOIN webhook_endpoints e
          ON e.status = 'enabled' AND ev.type = ANY (e.events) AND e.created_at <= ev.created_at
         AND (e.owner_tenant_id = ev.tenant_id OR e.owner_tenant_id IS NULL)
      ON CONFLICT (endpoint_id, event_id) DO NOTHING
      RETURNING 1
    ), marked AS (
      UPDATE webhook_events w SET dispatched_at = ${at}::timestamptz FROM ev WHERE w.tenant_id = ev.tenant_id AND w.id = ev.id RETURNING 1
    )
    SELECT (SELECT count(*) FROM marked)::int AS events, (SELECT count(*) FROM dl)::int AS deliveries`);
  return { events: Number(row?.events ?? 0), deliveries: Number(row?.deliveries ?? 0) };
}

/** A claimed delivery with what its attempt needs. */
export interface ClaimedDelivery {
  tenantId: string;
  id: string;
  endpointId: string;
  eventId: string;
  attempts: number;
  url: string;
  secretSealed: string;
  /** A rotated-out secret still in its grace at the claim (it signs too), else null. */
  previousSecretSealed: string | null;
  endpointStatus: 'enabled' | 'disabled';
  type: EventType;
  data: Record<string, unknown>;
  eventAt: Date;
}

/** What a claim took, and where the next claim of this process starts (round-robin over tenants). */
export interface Claim {
  deliveries: ClaimedDelivery[];
  /** The tenant the next claim starts after. */
  next: string;
  /** Every tenant with a pending delivery after `after` was looked at (none left beyond maxTenants). */
  reachedEnd: boolean;
}

/**
 * Claims up to `limit` due deliveries for `leaseUntil` under `token` (SKIP LOCKED: other
 * processes take others); a claim whose lease ran out (its process died) is due again.
 *
 * Fair across tenants: the tenants with a pending delivery after `after` (in id order, at
 * most `maxTenants` of them, each found by one probe of the pending-by-tenant index) are
 * served in turns, each tenant's oldest due delivery first, then each one's second, and so
 * on. The caller passes the returned `next` as the following claim's `after`, so that a
 * tenant with thousands of deliveries due gets its turn, not the whole claim, and a tenant
 * whose event came in later is served at the next claim, not after the backlog.
 */
export async function claimDue(db: Executor, q: {
  now: Date; leaseUntil: Date; token: string; limit: number; after: string; maxTenants: number;
}): Promise<Claim> {
  const at = q.now.toISOString();
  const found = await rows<{
    last_visited: string | null; reached_end: boolean;
    tenant_id: string | null; id: string; endpoint_id: string; event_id: string; attempts: number; url: string; secret_sealed: string; previous_secret_sealed: string | null;
    endpoint_status: 'enabled' | 'disabled'; type: EventType; data: Record<string, unknown> | string; event_at: Date | string; rn: number; n: number;
  }>(db, sql`
    WITH RECURSIVE visit(tenant_id, n) AS (
      SELECT (SELECT min(tenant_id) FROM webhook_deliveries WHERE status = 'pending' AND tenant_id > ${q.after}), 1
      UNION ALL
      SELECT (SELECT min(d.tenant_id) FROM webhook_deliveries d WHERE d.status = 'pending' AND d.tenant_id > v.tenant_id), v.n + 1
        FROM visit v WHERE v.tenant_id IS NOT NULL AND v.n < ${q.maxTenants}
    ), candidates AS (
      SELECT c.tenant_id, c.id, v.n, row_number() OVER (PARTITION BY c.tenant_id ORDER BY c.next_attempt_at, c.id) AS rn
        FROM visit v CROSS JOIN LATERAL (
          SELECT d.tenant_id, d.id, d.next_attempt_at FROM webhook_deliveries d
           WHERE d.tenant_id = v.tenant_id AND d.status = 'pending' AND d.next_attempt_at <= ${at}::timestamptz
             AND (d.lease_until IS NULL OR d.lease_until <= ${at}::timestamptz)
           ORDER BY d.next_attempt_at, d.id LIMIT ${q.limit}
        ) c
    ), due AS (
      SELECT d.tenant_id, d.id, candidates.rn, candidates.n FROM candidates
        JOIN webhook_deliveries d ON d.tenant_id = candidates.tenant_id AND d.id = candidates.id
       WHERE d.status = 'pending' AND d.next_attempt_at <= ${at}::timestamptz AND (d.lease_until IS NULL OR d.lease_until <= ${at}::timestamptz)
       ORDER BY candidates.rn, candidates.n LIMIT ${q.limit} FOR UPDATE OF d SKIP LOCKED
    ), claimed AS (
      UPDATE webhook_deliveries d SET lease_until = ${q.leaseUntil.toISOString()}::timestamptz, lease_token = ${q.token}
        FROM due WHERE d.tenant_id = due.tenant_id AND d.id = due.id
      RETURNING d.tenant_id, d.id, d.endpoint_id, d.event_id, d.attempts, due.rn, due.n
    ), visited AS (
      SELECT (SELECT tenant_id FROM visit WHERE tenant_id IS NOT NULL ORDER BY n DESC LIMIT 1) AS last_visited,
             EXISTS (SELECT 1 FROM visit WHERE tenant_id IS NULL) AS reached_end
    )
    SELECT visited.last_visited, visited.reached_end, x.* FROM visited LEFT JOIN (
      SELECT c.tenant_id, c.id, c.endpoint_id, c.event_id, c.attempts, c.rn, c.n, e.url, e.secret_sealed, e.status AS endpoint_status,
             CASE WHEN e.previous_secret_expires_at > ${at}::timestamptz THEN e.previous_secret_sealed END AS previous_secret_sealed,
             ev.type, ev.data, ev.created_at AS event_at
        FROM claimed c JOIN webhook_endpoints e ON e.id = c.endpoint_id
        JOIN webhook_events ev ON ev.tenant_id = c.tenant_id AND ev.id = c.event_id
    ) x ON true
    ORDER BY x.rn, x.n`);
  const taken = found.filter((r) => r.tenant_id !== null);
  const meta = found[0];
  const reachedEnd = meta === undefined || meta.reached_end === true || String(meta.reached_end) === 'true';
  // Full: start after the last tenant served. Short: every tenant looked at was served all
  // it had due, so start after the last one looked at (or from the first, at the end).
  const next = taken.length === q.limit ? taken.at(-1)!.tenant_id! : reachedEnd ? '' : meta?.last_visited ?? '';
  return {
    next, reachedEnd,
    deliveries: taken.map((r) => ({
      tenantId: r.tenant_id!, id: r.id, endpointId: r.endpoint_id, eventId: r.event_id, attempts: Number(r.attempts), url: r.url,
      secretSealed: r.secret_sealed, previousSecretSealed: r.previous_secret_sealed ?? null, endpointStatus: r.endpoint_status, type: r.type,
      data: typeof r.data === 'string' ? JSON.parse(r.data) as Record<string, unknown> : r.data, eventAt: new Date(r.event_at),
    })),
  };
}

/**
 * The endpoint's row, locked for the rest of an attempt's transaction: the first lock that
 * transaction takes. Disabling an endpoint (disableEndpoint) changes every pending delivery
 * of it, so an attempt that locked its delivery first and the endpoint second would wait
 * on a disabling attempt that waits on it (a deadlock on PostgreSQL). NO KEY UPDATE: a
 * fan-out adding deliveries (their foreign key's KEY SHARE) is not held up.
 */
export async function lockEndpoint(db: Executor, id: string): Promise<EndpointRow | undefined> {
  const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).for('no key update');
  return row;
}

/** What an attempt came to, written only while the claim is still this one's (a late writer changes nothing). */
export async function recordAttempt(db: Executor, d: {
  tenantId: string; id: string; token: string; status: 'pending' | 'succeeded' | 'failed'; attempts: number; nextAttemptAt: Date | null;
  responseStatus: number | null; error: string | null; now: Date;
}): Promise<boolean> {
  const done = await db.update(webhookDeliveries).set({
    status: d.status, attempts: d.attempts, nextAttemptAt: d.nextAttemptAt, lastAttemptAt: d.now, responseStatus: d.responseStatus,
    lastError: d.error, leaseUntil: null, leaseToken: null, updatedAt: d.now,
  }).where(and(eq(webhookDeliveries.tenantId, d.tenantId), eq(webhookDeliveries.id, d.id), eq(webhookDeliveries.leaseToken, d.token)))
    .returning({ id: webhookDeliveries.id });
  return done.length === 1;
}

/** An endpoint's run of failures, after an attempt: cleared by a success, else counted (from when it began). */
export async function endpointAttempted(db: Executor, id: string, ok: boolean, now: Date): Promise<EndpointRow | undefined> {
  const [row] = await db.update(webhookEndpoints).set(ok
    ? { failingSince: null, consecutiveFailures: 0 }
    : { failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${now.toISOString()}::timestamptz)`, consecutiveFailures: sql`${webhookEndpoints.consecutiveFailures} + 1` })
    .where(eq(webhookEndpoints.id, id)).returning();
  return row;
}

/** Disables an enabled endpoint (once: a second caller gets nothing) and fails what it still had pending. */
export async function disableEndpoint(db: Executor, id: string, reason: string, now: Date): Promise<EndpointRow | undefined> {
  const [row] = await db.update(webhookEndpoints).set({ status: 'disabled', disabledAt: now, disabledReason: reason, updatedAt: now })
    .where(and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.status, 'enabled'))).returning();
  if (row) {
    await db.update(webhookDeliveries).set({ status: 'failed', nextAttemptAt: null, lastError: 'the endpoint was disabled', updatedAt: now })
      .where(and(eq(webhookDeliveries.endpointId, id), eq(webhookDeliveries.status, 'pending')));
  }
  return row;
}

/**
 * Enables a disabled endpoint again, its run of failures forgotten (once: a second caller
 * gets nothing). What failed while it was disabled stays failed, each to retry by hand.
 */
export async function enableEndpoint(db: Executor, owner: Owner, id: string, now: Date): Promise<EndpointRow | undefined> {
  const [row] = await db.update(webhookEndpoints)
    .set({ status: 'enabled', disabledAt: null, disabledReason: null, failingSince: null, consecutiveFailures: 0, updatedAt: now })
    .where(and(eq(webhookEndpoints.id, id), ownedBy(owner), eq(webhookEndpoints.status, 'disabled'))).returning();
  return row;
}

/** Events and finished deliveries older than `before`; an event with a delivery still pending is kept. */
export async function prune(db: Executor, before: Date, limit: number): Promise<number> {
  const cutoff = before.toISOString();
  const [row] = await rows<{ n: number }>(db, sql`
    WITH old AS (
      SELECT ev.tenant_id, ev.id FROM webhook_events ev
       WHERE ev.created_at < ${cutoff}::timestamptz AND ev.dispatched_at IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.tenant_id = ev.tenant_id AND d.event_id = ev.id AND d.status = 'pending')
       ORDER BY ev.created_at LIMIT ${limit}
    ), gone AS (
      DELETE FROM webhook_deliveries d USING old WHERE d.tenant_id = old.tenant_id AND d.event_id = old.id RETURNING 1
    ), events AS (
      DELETE FROM webhook_events ev USING old WHERE ev.tenant_id = old.tenant_id AND ev.id = old.id RETURNING 1
    )
    SELECT (SELECT count(*) FROM events)::int AS n, (SELECT count(*) FROM gone)::int AS d`);
  return Number(row?.n ?? 0);
}
