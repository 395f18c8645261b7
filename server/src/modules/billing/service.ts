import type { Executor } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { findSubscription, insertSubscription, updateSubscription, type SubscriptionRow } from './repo.js';
import type { SubscriptionStatus } from './tables.js';

export interface Subscription {
  id: string;
  plan: string;
  status: SubscriptionStatus;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  trialEndsAt: string | null;
  pastDueSince: string | null;
  paymentMethod: string | null;
}

/** One month later, clamped to the month's last day (Jan 31 → Feb 28). */
export function addMonthUtc(from: Date): Date {
  const d = new Date(from.getTime());
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + 1);
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, lastDay));
  return d;
}

/** Subscriptions: every tenant has exactly one. Payments arrive in a later module. */
export class BillingService {
  constructor(private readonly clock: Clock) {}

  async createForTenant(tx: Executor, tenantId: string, plan: string): Promise<Subscription> {
    const now = this.clock.now();
    const row: SubscriptionRow = {
      tenantId,
      id: newId('sub', now.getTime()),
      plan,
      status: 'active',
      currentPeriodStart: now,
      currentPeriodEnd: addMonthUtc(now),
      trialEndsAt: null,
      pastDueSince: null,
      paymentMethod: null,
      externalPaymentId: null,
      createdAt: now,
      updatedAt: now,
    };
    await insertSubscription(tx, row);
    return toSubscription(row);
  }

  async get(db: Executor, tenantId: string): Promise<Subscription | undefined> {
    const row = await findSubscription(db, tenantId);
    return row && toSubscription(row);
  }

  async setPlan(tx: Executor, tenantId: string, plan: string): Promise<Subscription | undefined> {
    const row = await updateSubscription(tx, tenantId, { plan, updatedAt: this.clock.now() });
    return row && toSubscription(row);
  }
}

function toSubscription(row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    plan: row.plan,
    status: row.status,
    currentPeriodStart: row.currentPeriodStart.toISOString(),
    currentPeriodEnd: row.currentPeriodEnd.toISOString(),
    trialEndsAt: row.trialEndsAt?.toISOString() ?? null,
    pastDueSince: row.pastDueSince?.toISOString() ?? null,
    paymentMethod: row.paymentMethod ?? null,
  };
}
