import type { Executor } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { advancePeriod, countOtherPlans, findSubscription, insertSubscription, listDue, updateSubscription, type SubscriptionRow } from './repo.js';
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

/**
 * `months` after `anchor`, on the anchor's day clamped to the month's last day
 * (Jan 31 → Feb 28 → Mar 31): counted from the anchor, so the day never drifts.
 */
export function addMonthsUtc(anchor: Date, months: number): Date {
  const year = anchor.getUTCFullYear();
  const month = anchor.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(anchor.getUTCDate(), lastDay),
    anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(), anchor.getUTCMilliseconds()));
}

/** One month later, clamped to the month's last day (Jan 31 → Feb 28). */
export function addMonthUtc(from: Date): Date {
  return addMonthsUtc(from, 1);
}

/** A billing period, [start, end): the instant `end` already belongs to the next one. */
export interface Period { start: Date; end: Date }

/** The calendar month in UTC holding `now`: the period of a tenant without a subscription. */
export function calendarMonthUtc(now: Date): Period {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) };
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

  /** Plans some tenant is on that are not among `known` (renamed or removed from the config), with how many tenants each. */
  async unknownPlans(db: Executor, known: string[]): Promise<{ plan: string; tenants: number }[]> {
    return countOtherPlans(db, known);
  }

  async get(db: Executor, tenantId: string): Promise<Subscription | undefined> {
    const row = await findSubscription(db, tenantId);
    return row && toSubscription(row);
  }

  /**
   * The tenant's current usage period. A subscription whose period ended is rolled
   * forward here (lazily; the sweeper does the same for idle tenants), one month at a
   * time from its previous end, so periods stay contiguous however long it was idle;
   * period ends are counted in months from the subscription's start, so a subscription
   * begun on the 31st renews on the last day of short months and the 31st again after.
   */
  async currentPeriod(tx: Executor, tenantId: string): Promise<Period> {
    const now = this.clock.now();
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await findSubscription(tx, tenantId);
      if (!row) return calendarMonthUtc(now);
      if (row.currentPeriodEnd > now) return { start: row.currentPeriodStart, end: row.currentPeriodEnd };
      const anchor = row.createdAt;
      let start = row.currentPeriodEnd;
      let months = 1;
      while (addMonthsUtc(anchor, months) <= start) months++;
      let end = addMonthsUtc(anchor, months);
      while (end <= now) {
        start = end;
        end = addMonthsUtc(anchor, ++months);
      }
      if (await advancePeriod(tx, tenantId, row.currentPeriodEnd, start, end, now)) return { start, end };
      // another caller rolled it first: read what it wrote
    }
    throw new Error(`subscription period of ${tenantId} keeps moving`);
  }

  async duePeriods(tx: Executor, limit: number): Promise<string[]> {
    return listDue(tx, this.clock.now(), limit);
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
