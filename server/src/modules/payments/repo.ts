import { and, asc, desc, eq, gt, isNull, lte, or, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { newestFirst, olderThan } from '../../db/columns.js';
import { lockKey } from '../../db/locks.js';
import { AppError } from '../../lib/errors.js';
import type { Position } from '../../lib/cursor.js';
import type { PaymentMethod } from '../billing/index.js';
import { payments, providerEvents, providerHeldStates, type PaymentStatus } from './tables.js';

export type PaymentRow = typeof payments.$inferSelect;

export async function insertPayment(db: Executor, row: PaymentRow): Promise<void> {
  await db.insert(payments).values(row);
}

export async function findPayment(db: Executor, tenantId: string, id: string): Promise<PaymentRow | undefined> {
  const [row] = await db.select().from(payments).where(and(eq(payments.tenantId, tenantId), eq(payments.id, id)));
  return row;
}

/** The tenant's payment with this external id (row-level security hides other tenants'). */
export async function findByExternalId(db: Executor, tenantId: string, method: PaymentMethod, externalId: string): Promise<PaymentRow | undefined> {
  const [row] = await db.select().from(payments)
    .where(and(eq(payments.tenantId, tenantId), eq(payments.method, method), eq(payments.externalPaymentId, externalId)));
  return row;
}

/** How a provider's refund or dispute names a payment: its external id (Stripe's invoice, PayPal's sale or capture), else Stripe's payment intent. */
export interface PaymentRef { externalId: string | null; paymentIntent: string | null }

/**
 * The payment a refund or dispute names, of any tenant when `tenantId` is null (a system
 * transaction: the payment is what says whose it is). By its external id first: a payment
 * intent may have paid several invoices (the newest is taken then).
 */
export async function findByRef(db: Executor, tenantId: string | null, method: PaymentMethod, ref: PaymentRef): Promise<PaymentRow | undefined> {
  const named = [
    ...(ref.externalId ? [eq(payments.externalPaymentId, ref.externalId)] : []),
    ...(ref.paymentIntent ? [eq(payments.paymentIntent, ref.paymentIntent)] : []),
  ];
  if (named.length === 0) return undefined;
  const [row] = await db.select().from(payments)
    .where(and(tenantId === null ? undefined : eq(payments.tenantId, tenantId), eq(payments.method, method), or(...named)))
    .orderBy(sql`coalesce(${payments.externalPaymentId} = ${ref.externalId ?? ''}, false) DESC`, desc(payments.createdAt), desc(payments.id)).limit(1);
  return row;
}

/** Names the payment intent that paid a Stripe invoice, unless its payment names one already: the payment's id, if it did. */
export async function linkPaymentIntent(db: Executor, tenantId: string, invoiceId: string, paymentIntent: string): Promise<string | undefined> {
  const [row] = await db.update(payments).set({ paymentIntent })
    .where(and(eq(payments.tenantId, tenantId), eq(payments.method, 'stripe'), eq(payments.externalPaymentId, invoiceId), isNull(payments.paymentIntent)))
    .returning({ id: payments.id });
  return row?.id;
}

/** The transfer the tenant awaits, held until the transaction ends. */
export async function lockPendingTransfer(db: Executor, tenantId: string): Promise<PaymentRow | undefined> {
  const [row] = await db.select().from(payments)
    .where(and(eq(payments.tenantId, tenantId), eq(payments.method, 'bank_transfer'), eq(payments.status, 'pending'))).for('update');
  return row;
}

/** Changes a payment only if it is still in `from`: of two deciders racing, one wins. */
export async function updatePayment(db: Executor, tenantId: string, id: string, from: PaymentStatus, patch: Partial<PaymentRow>): Promise<PaymentRow | undefined> {
  const [row] = await db.update(payments).set(patch)
    .where(and(eq(payments.tenantId, tenantId), eq(payments.id, id), eq(payments.status, from))).returning();
  return row;
}

export async function listPayments(db: Executor, tenantId: string, before: Position | undefined, limit: number): Promise<PaymentRow[]> {
  return db.select().from(payments).where(and(eq(payments.tenantId, tenantId), olderThan(payments.createdAt, payments.id, before)))
    .orderBy(...newestFirst(payments.createdAt, payments.id)).limit(limit);
}

/**
 * Records a provider event as processed, unless it already was: false for a redelivery.
 * A concurrent twin waits on the key until the first commits (or rolls back). A
 * transmission id claimed by another event already is WEBHOOK_SIGNATURE_INVALID.
 */
export async function claimEvent(db: Executor, e: typeof providerEvents.$inferInsert): Promise<boolean> {
  const rows = await db.insert(providerEvents).values(e).onConflictDoNothing().returning({ id: providerEvents.eventId });
  if (rows.length === 1) return true;
  const [claimed] = await db.select({ id: providerEvents.eventId }).from(providerEvents)
    .where(and(eq(providerEvents.provider, e.provider), eq(providerEvents.eventId, e.eventId)));
  if (!claimed) throw new AppError('WEBHOOK_SIGNATURE_INVALID', 'this transmission was received before, carrying another event');
  return false;
}

export async function setEventOutcome(db: Executor, provider: 'stripe' | 'paypal', eventId: string, outcome: string): Promise<void> {
  await db.update(providerEvents).set({ outcome }).where(and(eq(providerEvents.provider, provider), eq(providerEvents.eventId, eventId)));
}

/** Serialises the work on one external payment id, across tenants, until the transaction ends. */
export async function lockExternalId(db: Executor, method: PaymentMethod, externalId: string): Promise<void> {
  await lockKey(db, 'payments', `${method}:${externalId}`);
}

/** Succeeded payments of no provider subscription: what pays for the periods Tollgate keeps (transfers, one-off payments). */
const paidForTollgate = (tenantId: string, subscriptionId: string) => and(
  eq(payments.tenantId, tenantId), eq(payments.subscriptionId, subscriptionId), eq(payments.status, 'succeeded'), isNull(payments.providerSubscriptionId),
);

/** The end of the latest period Tollgate keeps that the subscription's payments cover (a renewal paid early starts there). */
export async function latestPaidEnd(db: Executor, tenantId: string, subscriptionId: string): Promise<Date | null> {
  const [row] = await db.select({ end: sql<string | Date | null>`max(${payments.periodEnd})` }).from(payments)
    .where(paidForTollgate(tenantId, subscriptionId));
  return row?.end ? new Date(row.end) : null;
}

/** The payments for periods Tollgate keeps whose span ends after `from` and has begun by `at`, earliest first. */
export async function paidSpans(db: Executor, tenantId: string, subscriptionId: string, from: Date, at: Date): Promise<PaymentRow[]> {
  return db.select().from(payments).where(and(paidForTollgate(tenantId, subscriptionId), gt(payments.periodEnd, from), lte(payments.periodStart, at)))
    .orderBy(asc(payments.periodStart), asc(payments.createdAt), asc(payments.id));
}

/** The succeeded payments of a provider's subscription, by the start of the period each pays for. */
export async function succeededPaymentsOf(db: Executor, tenantId: string, method: PaymentMethod, providerSubscriptionId: string): Promise<PaymentRow[]> {
  return db.select().from(payments).where(and(
    eq(payments.tenantId, tenantId), eq(payments.method, method), eq(payments.providerSubscriptionId, providerSubscriptionId), eq(payments.status, 'succeeded'),
  )).orderBy(asc(payments.periodStart), asc(payments.createdAt), asc(payments.id));
}

export type HeldStateRow = typeof providerHeldStates.$inferSelect;

const heldKey = (tenantId: string, provider: 'stripe' | 'paypal', subscriptionId: string) => and(
  eq(providerHeldStates.tenantId, tenantId), eq(providerHeldStates.provider, provider), eq(providerHeldStates.providerSubscriptionId, subscriptionId),
);

export async function findHeldState(db: Executor, tenantId: string, provider: 'stripe' | 'paypal', subscriptionId: string): Promise<HeldStateRow | undefined> {
  const [row] = await db.select().from(providerHeldStates).where(heldKey(tenantId, provider, subscriptionId));
  return row;
}

/** Holds a state, or replaces the one held of that subscription (its creation time stays). */
export async function upsertHeldState(db: Executor, row: HeldStateRow): Promise<void> {
  await db.insert(providerHeldStates).values(row).onConflictDoUpdate({
    target: [providerHeldStates.tenantId, providerHeldStates.provider, providerHeldStates.providerSubscriptionId],
    set: { state: row.state, updatedAt: row.updatedAt },
  });
}

export async function deleteHeldState(db: Executor, tenantId: string, provider: 'stripe' | 'paypal', subscriptionId: string): Promise<void> {
  await db.delete(providerHeldStates).where(heldKey(tenantId, provider, subscriptionId));
}

/** The one tenant a state of this provider subscription is held for (a system read); none when several are. */
export async function tenantHolding(db: Executor, provider: 'stripe' | 'paypal', subscriptionId: string): Promise<string | undefined> {
  const rows = await db.select({ tenantId: providerHeldStates.tenantId }).from(providerHeldStates)
    .where(and(eq(providerHeldStates.provider, provider), eq(providerHeldStates.providerSubscriptionId, subscriptionId))).limit(2);
  return rows.length === 1 ? rows[0]!.tenantId : undefined;
}
