import { and, asc, eq, isNotNull, isNull, lte, sql, type SQL } from 'drizzle-orm';
import { arrayLiteral } from '../../db/array-literal.js';
import { rows, type Executor } from '../../db/client.js';
import { newestFirst, olderThan } from '../../db/columns.js';
import type { Position } from '../../lib/cursor.js';
import { creditAccounts, creditLedger, creditReservations, type LedgerKind } from './tables.js';

export type LedgerRow = typeof creditLedger.$inferSelect;
export type ReservationRow = typeof creditReservations.$inferSelect;

/** One ledger entry to append; balance_after/reserved_after come from the account row it changed. */
export interface EntryInput {
  tenantId: string;
  id: string;
  kind: LedgerKind;
  amount: number;
  hold: number;
  reservationId: string | null;
  key: string;
  hash: string;
  reason: string | null;
  actorType: string;
  actorId: string | null;
  now: Date;
  paymentId?: string | null;
}

/**
 * Serialises writers of one idempotency key (and only them) until the transaction ends,
 * so the look-up of a previous result that follows cannot miss a concurrent twin.
 */
export { lockKey } from '../../db/locks.js';

/** Appends the entry from CTE `a` (the changed account); no row in `a` means nothing is written. */
function appendFromAccount(e: EntryInput, prefix: SQL): SQL {
  return sql`${prefix}
    INSERT INTO credit_ledger (tenant_id, id, kind, amount, hold, balance_after, reserved_after, reservation_id,
                               idempotency_key, request_hash, reason, actor_type, actor_id, created_at, payment_id)
    SELECT ${e.tenantId}, ${e.id}, ${e.kind}, ${e.amount}::bigint, ${e.hold}::bigint, a.balance, a.reserved, ${e.reservationId},
           ${e.key}, ${e.hash}, ${e.reason}, ${e.actorType}, ${e.actorId}, ${e.now.toISOString()}::timestamptz, ${e.paymentId ?? null} FROM a
    RETURNING id`;
}

async function appended(db: Executor, statement: SQL): Promise<boolean> {
  return (await rows(db, statement)).length === 1;
}

/**
 * Adds credits (grant, top-up, positive adjustment); creates the account on first use.
 * Nothing is written where the balance would pass 2^53 - 1: every amount the API answers is
 * a JSON number, exact only up to there (past it, +1 answered the same balance).
 */
export async function credit(db: Executor, e: EntryInput): Promise<boolean> {
  return appended(db, appendFromAccount(e, sql`WITH a AS (
    INSERT INTO credit_accounts AS c (tenant_id, balance, reserved, updated_at)
    VALUES (${e.tenantId}, ${e.amount}::bigint, 0, ${e.now.toISOString()}::timestamptz)
    ON CONFLICT (tenant_id) DO UPDATE SET balance = c.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
     WHERE c.balance + EXCLUDED.balance <= ${Number.MAX_SAFE_INTEGER}::bigint
    RETURNING c.balance, c.reserved)`));
}

/** Takes credits away only if what stays still covers every open reservation. */
export async function debit(db: Executor, e: EntryInput): Promise<boolean> {
  return appended(db, appendFromAccount(e, sql`WITH a AS (
    UPDATE credit_accounts c SET balance = c.balance + ${e.amount}::bigint, updated_at = ${e.now.toISOString()}::timestamptz
    WHERE c.tenant_id = ${e.tenantId} AND c.balance + ${e.amount}::bigint >= c.reserved
    RETURNING c.balance, c.reserved)`));
}

export interface NewReservation { id: string; key: string; hash: string; operation: string | null; model: string | null; amount: number; expiresAt: Date }

/**
 * Holds `amount` if available (balance - reserved) covers it: the account row is the gate.
 * The reservation row is the hold; a hold moves no balance, so it has no ledger entry.
 */
export async function reserve(db: Executor, r: NewReservation & { tenantId: string; actorType: string; actorId: string | null; now: Date }): Promise<boolean> {
  const now = r.now.toISOString();
  return appended(db, sql`WITH a AS (
    UPDATE credit_accounts c SET reserved = c.reserved + ${r.amount}::bigint, updated_at = ${now}::timestamptz
    WHERE c.tenant_id = ${r.tenantId} AND c.balance - c.reserved >= ${r.amount}::bigint
    RETURNING c.tenant_id
  )
  INSERT INTO credit_reservations (tenant_id, id, idempotency_key, request_hash, operation, model, amount, status,
                                   charged, refunded, expires_at, created_at, actor_type, actor_id)
  SELECT a.tenant_id, ${r.id}, ${r.key}, ${r.hash}, ${r.operation}, ${r.model}, ${r.amount}::bigint, 'held',
         0, 0, ${r.expiresAt.toISOString()}::timestamptz, ${now}::timestamptz, ${r.actorType}, ${r.actorId} FROM a
  RETURNING id`);
}

export type ResolveWhen = 'live' | 'any';

/**
 * Resolves a held reservation: the conditional status update is the gate, so of any
 * number of racing settle/release/expire calls exactly one changes anything. Its hold
 * leaves the account's reserved; only a settlement moves the balance, so only a
 * settlement is ledgered (`settlement`, its entry; `hold` records the hold it let go).
 */
export async function resolve(db: Executor, r: {
  tenantId: string; reservationId: string; status: 'settled' | 'released'; charge: number; when: ResolveWhen; now: Date;
}, settlement: EntryInput | null): Promise<boolean> {
  const now = r.now.toISOString();
  const timing = r.when === 'live' ? sql`AND expires_at > ${now}::timestamptz` : sql``;
  const changed = sql`WITH r AS (
    UPDATE credit_reservations SET status = ${r.status}, charged = ${r.charge}::bigint, resolved_at = ${now}::timestamptz
    WHERE tenant_id = ${r.tenantId} AND id = ${r.reservationId} AND status = 'held' ${timing}
    RETURNING amount
  ), a AS (
    UPDATE credit_accounts c SET balance = c.balance - ${r.charge}::bigint, reserved = c.reserved - r.amount,
                                 updated_at = ${now}::timestamptz
    FROM r WHERE c.tenant_id = ${r.tenantId}
    RETURNING c.balance, c.reserved)`;
  return appended(db, settlement ? appendFromAccount(settlement, changed) : sql`${changed} SELECT 1 FROM a`);
}

/**
 * Expires the tenant's holds named by `ids` (null: all due at `at`) through the one expiry,
 * db/functions/expire.sql; how many expired.
 */
export async function expire(db: Executor, tenantId: string, ids: string[] | null, at: Date): Promise<number> {
  const [row] = await rows<{ expired: number }>(db, sql`SELECT expired FROM tollgate_expire(${tenantId}, ${ids === null ? null : arrayLiteral(ids)}::text[], ${at.toISOString()}::timestamptz)`);
  return Number(row?.expired ?? 0);
}

/** Gives back part of a settled charge; the reservation's `refunded` caps the total at what was charged. */
export async function refund(db: Executor, e: EntryInput): Promise<boolean> {
  const now = e.now.toISOString();
  return appended(db, appendFromAccount(e, sql`WITH r AS (
    UPDATE credit_reservations SET refunded = refunded + ${e.amount}::bigint
    WHERE tenant_id = ${e.tenantId} AND id = ${e.reservationId} AND status = 'settled' AND refunded + ${e.amount}::bigint <= charged
    RETURNING id
  ), a AS (
    UPDATE credit_accounts c SET balance = c.balance + ${e.amount}::bigint, updated_at = ${now}::timestamptz
    FROM r WHERE c.tenant_id = ${e.tenantId}
    RETURNING c.balance, c.reserved)`));
}

export async function account(db: Executor, tenantId: string): Promise<{ balance: number; reserved: number }> {
  const [row] = await db.select({ balance: creditAccounts.balance, reserved: creditAccounts.reserved })
    .from(creditAccounts).where(eq(creditAccounts.tenantId, tenantId));
  return { balance: Number(row?.balance ?? 0), reserved: Number(row?.reserved ?? 0) };
}

/** What the grants made against a payment added (its paid periods' credits). */
export async function grantedFor(db: Executor, tenantId: string, paymentId: string): Promise<number> {
  const [row] = await db.select({ total: sql<string | number | null>`sum(${creditLedger.amount})` }).from(creditLedger)
    .where(and(eq(creditLedger.tenantId, tenantId), eq(creditLedger.paymentId, paymentId), eq(creditLedger.kind, 'grant')));
  return Number(row?.total ?? 0);
}

export async function entryByKey(db: Executor, tenantId: string, key: string): Promise<LedgerRow | undefined> {
  const [row] = await db.select().from(creditLedger).where(and(eq(creditLedger.tenantId, tenantId), eq(creditLedger.idempotencyKey, key)));
  return row;
}

export async function listEntries(db: Executor, tenantId: string, before: Position | undefined, limit: number): Promise<LedgerRow[]> {
  return db.select().from(creditLedger).where(and(eq(creditLedger.tenantId, tenantId), olderThan(creditLedger.createdAt, creditLedger.id, before)))
    .orderBy(...newestFirst(creditLedger.createdAt, creditLedger.id)).limit(limit);
}

export async function reservationById(db: Executor, tenantId: string, id: string): Promise<ReservationRow | undefined> {
  const [row] = await db.select().from(creditReservations).where(and(eq(creditReservations.tenantId, tenantId), eq(creditReservations.id, id)));
  return row;
}

/** The reservation a decision opened; by its id alone (whichever tenant's) when `tenantId` is null (a system transaction). */
export async function reservationByDecision(db: Executor, decisionId: string, tenantId: string | null): Promise<ReservationRow | undefined> {
  const byDecision = eq(creditReservations.decisionId, decisionId);
  const [row] = await db.select().from(creditReservations)
    .where(tenantId === null ? byDecision : and(eq(creditReservations.tenantId, tenantId), byDecision)).limit(1);
  return row;
}

/** The in-process reserve's reservation under `key` (a decision's reservation is kept once per key by the decision: migration 0018). */
export async function reservationByKey(db: Executor, tenantId: string, key: string): Promise<ReservationRow | undefined> {
  const [row] = await db.select().from(creditReservations)
    .where(and(eq(creditReservations.tenantId, tenantId), eq(creditReservations.idempotencyKey, key), isNull(creditReservations.decisionId)));
  return row;
}

/**
 * The reservations that record allowed decisions (0019: they carry the decision's
 * principal), newest first by (created_at, decision_id), older than `before`: the decision
 * list reads them beside the decision log, through their own partial index.
 */
export async function decisionRecords(db: Executor, q: { tenantId: string; before?: Position | undefined; limit: number }): Promise<ReservationRow[]> {
  return byDecision(db, q);
}

/**
 * The meter usage events that reservations record (0020), newest first: one per
 * reservation a decision opened on a meter since. Paged by the decision's id, which sorts
 * as the event's (`meterEventId`).
 */
export async function meterEventRecords(db: Executor, q: { tenantId: string; before?: Position | undefined; limit: number }): Promise<ReservationRow[]> {
  const before = q.before && { createdAt: q.before.createdAt, id: `dec_${q.before.id.slice(4)}` };
  return byDecision(db, { ...q, before }, isNotNull(creditReservations.periodStart), isNotNull(creditReservations.meter));
}

/** A tenant's decisions' reservations (0019), newest first by (created_at, decision_id), older than `before`, through their partial index. */
function byDecision(db: Executor, q: { tenantId: string; before?: Position | undefined; limit: number }, ...also: SQL[]): Promise<ReservationRow[]> {
  return db.select().from(creditReservations)
    .where(and(eq(creditReservations.tenantId, q.tenantId), isNotNull(creditReservations.principalType), ...also,
      olderThan(creditReservations.createdAt, creditReservations.decisionId, q.before)))
    .orderBy(...newestFirst(creditReservations.createdAt, creditReservations.decisionId)).limit(q.limit);
}

/** The id of the meter usage event a reservation records: its decision's, as an event's (the same order). */
export function meterEventId(r: ReservationRow): string {
  return `evt_${r.decisionId!.slice(4)}`;
}

/**
 * The tenant's open runs: its decisions' reservations held and live at `at`, each locked
 * (FOR SHARE) so that none is resolved, its slot looked for and not found, before the
 * caller's transaction ends. One being resolved right now is passed over (it is closing):
 * waiting for its resolver, which waits for the account the caller holds, would deadlock.
 */
export async function openRuns(db: Executor, tenantId: string, at: Date): Promise<{ id: string; expiresAt: Date }[]> {
  const found = await rows<{ id: string; expires_at: Date | string }>(db, sql`
    SELECT id, expires_at FROM credit_reservations
     WHERE tenant_id = ${tenantId} AND status = 'held' AND expires_at > ${at.toISOString()}::timestamptz AND decision_id IS NOT NULL
       FOR SHARE SKIP LOCKED`);
  return found.map((r) => ({ id: r.id, expiresAt: new Date(r.expires_at) }));
}

/** Locks the tenant's account until the transaction ends (what the decision locks first: its admissions wait). */
export async function lockAccount(db: Executor, tenantId: string): Promise<void> {
  await db.execute(sql`SELECT 1 FROM credit_accounts WHERE tenant_id = ${tenantId} FOR UPDATE`);
}

/** Held reservations past their expiry, oldest first: the sweeper's work list (a system read). */
export async function dueReservations(db: Executor, at: Date, limit: number): Promise<{ tenantId: string; id: string }[]> {
  return db.select({ tenantId: creditReservations.tenantId, id: creditReservations.id }).from(creditReservations)
    .where(and(eq(creditReservations.status, 'held'), lte(creditReservations.expiresAt, at)))
    .orderBy(asc(creditReservations.expiresAt)).limit(limit);
}

/** Every tenant has an account from its creation on, so a zero-cost reservation finds one. */
export async function openAccount(db: Executor, tenantId: string, now: Date): Promise<void> {
  await db.insert(creditAccounts).values({ tenantId, balance: 0, reserved: 0, updatedAt: now }).onConflictDoNothing();
}
