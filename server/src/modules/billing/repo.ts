import { and, asc, count, eq, lte, notInArray } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { subscriptions } from './tables.js';

export type SubscriptionRow = typeof subscriptions.$inferSelect;

export async function insertSubscription(db: Executor, row: SubscriptionRow): Promise<void> {
  await db.insert(subscriptions).values(row);
}

export async function findSubscription(db: Executor, tenantId: string): Promise<SubscriptionRow | undefined> {
  const [row] = await db.select().from(subscriptions).where(eq(subscriptions.tenantId, tenantId));
  return row;
}

export async function updateSubscription(db: Executor, tenantId: string, patch: Partial<SubscriptionRow>): Promise<SubscriptionRow | undefined> {
  const [row] = await db.update(subscriptions).set(patch).where(eq(subscriptions.tenantId, tenantId)).returning();
  return row;
}

/**
 * Moves a subscription to its next period only if it still ends at `from`: of several
 * callers rolling the same period at once, exactly one advances it.
 */
export async function advancePeriod(db: Executor, tenantId: string, from: Date, start: Date, end: Date, now: Date): Promise<boolean> {
  const rows = await db.update(subscriptions).set({ currentPeriodStart: start, currentPeriodEnd: end, updatedAt: now })
    .where(and(eq(subscriptions.tenantId, tenantId), eq(subscriptions.currentPeriodEnd, from)))
    .returning({ tenantId: subscriptions.tenantId });
  return rows.length === 1;
}

/** Tenants whose period ended: the sweeper rolls them forward (and refills their credits). */
export async function listDue(db: Executor, now: Date, limit: number): Promise<string[]> {
  const rows = await db.select({ tenantId: subscriptions.tenantId }).from(subscriptions)
    .where(lte(subscriptions.currentPeriodEnd, now)).orderBy(asc(subscriptions.currentPeriodEnd)).limit(limit);
  return rows.map((r) => r.tenantId);
}

/** Plans some tenant is on other than `known`, with how many tenants each (a system read). */
export async function countOtherPlans(db: Executor, known: string[]): Promise<{ plan: string; tenants: number }[]> {
  return db.select({ plan: subscriptions.plan, tenants: count() }).from(subscriptions)
    .where(notInArray(subscriptions.plan, known)).groupBy(subscriptions.plan).orderBy(asc(subscriptions.plan));
}
