import { eq } from 'drizzle-orm';
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
