import { and, asc, count, eq, inArray, isNull, lte, not, notInArray, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Executor } from '../../db/client.js';
import { subscriptions, type PaymentMethod, type SubscriptionStatus } from './tables.js';

export type SubscriptionRow = typeof subscriptions.$inferSelect;

export async function insertSubscription(db: Executor, row: Omit<SubscriptionRow, 'cancelAtPeriodEnd' | 'canceledAt' | 'canceledFrom' | 'providerSubscriptionId' | 'providerCustomerId' | 'providerUpdatedAt' | 'providerPeriodEnd'>): Promise<void> {
  await db.insert(subscriptions).values(row);
}

export async function findSubscription(db: Executor, tenantId: string): Promise<SubscriptionRow | undefined> {
  const [row] = await db.select().from(subscriptions).where(eq(subscriptions.tenantId, tenantId));
  return row;
}

/** The row, held until the transaction ends: changes of one subscription happen one after another. */
export async function lockSubscription(db: Executor, tenantId: string): Promise<SubscriptionRow | undefined> {
  const [row] = await db.select().from(subscriptions).where(eq(subscriptions.tenantId, tenantId)).for('update');
  return row;
}

export async function updateSubscription(db: Executor, tenantId: string, patch: Partial<SubscriptionRow>): Promise<SubscriptionRow | undefined> {
  const [row] = await db.update(subscriptions).set(patch).where(eq(subscriptions.tenantId, tenantId)).returning();
  return row;
}

/** Subscriptions Stripe or PayPal keeps (service.ts `keptByProvider`; rules.test.ts holds each twin to the other); never NULL. */
export const KEPT_BY_PROVIDER: SQL = sql`COALESCE(${subscriptions.paymentMethod} IN ('stripe', 'paypal') AND ${subscriptions.providerSubscriptionId} IS NOT NULL, false)`;

/** Subscriptions whose provider ends them at their period's end itself (service.ts `endsItsOwnPeriod`); never NULL. */
export const ENDS_ITS_OWN_PERIOD: SQL = sql`(${KEPT_BY_PROVIDER} AND ${subscriptions.paymentMethod} = 'stripe')`;

/** Subscriptions active on a period paid for that Tollgate keeps (service.ts `paidByTollgate`); never NULL. */
export const PAID_BY_TOLLGATE: SQL = sql`(${subscriptions.status} = 'active' AND ${subscriptions.paymentMethod} IS NOT NULL AND NOT ${KEPT_BY_PROVIDER})`;

/** Subscriptions whose period renews by itself (see renewsItself): only these are rolled lazily and by the sweeper. */
export const RENEWS_ITSELF: SQL = sql`((${subscriptions.status} = 'trialing' AND NOT ${KEPT_BY_PROVIDER})
  OR (${subscriptions.status} = 'active' AND ${subscriptions.paymentMethod} IS NULL AND NOT ${subscriptions.cancelAtPeriodEnd}))`;

/**
 * Moves a subscription to its next period only if it still ends at `from`: of several
 * callers rolling the same period at once, exactly one advances it.
 */
export async function advancePeriod(db: Executor, tenantId: string, from: Date, start: Date, end: Date, now: Date): Promise<boolean> {
  const rows = await db.update(subscriptions).set({ currentPeriodStart: start, currentPeriodEnd: end, updatedAt: now })
    .where(and(eq(subscriptions.tenantId, tenantId), eq(subscriptions.currentPeriodEnd, from), RENEWS_ITSELF))
    .returning({ tenantId: subscriptions.tenantId });
  return rows.length === 1;
}

/** Tenants whose self-renewing period ended: the sweeper rolls them forward (and refills their credits). */
export async function listDue(db: Executor, now: Date, limit: number): Promise<string[]> {
  const rows = await db.select({ tenantId: subscriptions.tenantId }).from(subscriptions)
    .where(and(lte(subscriptions.currentPeriodEnd, now), RENEWS_ITSELF)).orderBy(asc(subscriptions.currentPeriodEnd)).limit(limit);
  return rows.map((r) => r.tenantId);
}


/** What a time-driven transition is due for (a system read; each is re-checked under the row's lock). */
export type DueKind = 'trial_ended' | 'canceled_at_period_end' | 'period_ended_unpaid' | 'grace_ended';

export async function listTransitionsDue(db: Executor, kind: DueKind, at: Date, graceSeconds: number, limit: number): Promise<string[]> {
  const s = subscriptions;
  const where: Record<DueKind, SQL | undefined> = {
    // Stripe and PayPal end their own trials (and say so): only Tollgate's own are ended here.
    trial_ended: and(eq(s.status, 'trialing'), lte(s.trialEndsAt, at), not(KEPT_BY_PROVIDER)),
    // A cancellation at the period's end: Stripe ends its own (the deletion); PayPal sends nothing then.
    // One on a paid period Tollgate keeps waits for the periods paid for after it (below).
    canceled_at_period_end: and(inArray(s.status, ['active', 'past_due']), eq(s.cancelAtPeriodEnd, true), lte(s.currentPeriodEnd, at), not(ENDS_ITS_OWN_PERIOD), not(PAID_BY_TOLLGATE)),
    // A paid period Tollgate keeps that ended: a bank transfer's, or one a payment of no subscription (a one-off invoice, a capture) bought.
    // The next one paid for begins, else it ended unpaid, or is canceled if so asked.
    period_ended_unpaid: and(PAID_BY_TOLLGATE, lte(s.currentPeriodEnd, at)),
    grace_ended: and(eq(s.status, 'past_due'), or(isNull(s.pastDueSince), lte(s.pastDueSince, new Date(at.getTime() - graceSeconds * 1000)))),
  };
  const rows = await db.select({ tenantId: s.tenantId }).from(s).where(where[kind]).orderBy(asc(s.tenantId)).limit(limit);
  return rows.map((r) => r.tenantId);
}

/**
 * The tenant whose subscription follows a provider's subscription, else the one tenant
 * following the provider's customer (a system read). A customer several tenants follow
 * names none of them: guessing would apply one tenant's invoice to another.
 */
export async function findByProvider(db: Executor, method: PaymentMethod, ids: { subscriptionId?: string | null | undefined; customerId?: string | null | undefined }): Promise<string | undefined> {
  const s = subscriptions;
  const following = async (column: PgColumn, id: string) => (await db.select({ tenantId: s.tenantId }).from(s)
    .where(and(eq(s.paymentMethod, method), eq(column, id))).orderBy(asc(s.tenantId)).limit(2)).map((r) => r.tenantId);
  const bySubscription = ids.subscriptionId ? await following(s.providerSubscriptionId, ids.subscriptionId) : [];
  if (bySubscription.length > 0) return bySubscription[0];
  const byCustomer = ids.customerId ? await following(s.providerCustomerId, ids.customerId) : [];
  return byCustomer.length === 1 ? byCustomer[0] : undefined;
}

/** `tenantId IN (subscriptions matching)`: the operator's tenant search filters by billing state with it. */
export function tenantsWithSubscription(tenantId: PgColumn, f: { status?: SubscriptionStatus | undefined; paymentMethod?: PaymentMethod | undefined }): SQL | undefined {
  const conditions: SQL[] = [];
  if (f.status) conditions.push(eq(subscriptions.status, f.status));
  if (f.paymentMethod) conditions.push(eq(subscriptions.paymentMethod, f.paymentMethod));
  if (conditions.length === 0) return undefined;
  return sql`${tenantId} IN (SELECT ${subscriptions.tenantId} FROM ${subscriptions} WHERE ${and(...conditions)})`;
}

/** Plans some tenant is on other than `known`, with how many tenants each (a system read). */
export async function countOtherPlans(db: Executor, known: string[]): Promise<{ plan: string; tenants: number }[]> {
  return db.select({ plan: subscriptions.plan, tenants: count() }).from(subscriptions)
    .where(notInArray(subscriptions.plan, known)).groupBy(subscriptions.plan).orderBy(asc(subscriptions.plan));
}
