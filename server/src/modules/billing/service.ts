import type { SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Executor } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import type { Actor } from '../audit/index.js';
import type { SubscriptionLifecycle, Transitioned } from './lifecycle.js';
import {
  advancePeriod, countOtherPlans, findSubscription, insertSubscription, listDue, tenantsWithSubscription, type SubscriptionRow,
} from './repo.js';
import type { PaymentMethod, SubscriptionStatus } from './tables.js';
import { toSubscription, type Subscription } from './view.js';

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

/** The end of `periods` billing periods of `interval` from `start`. */
export function paidPeriodEnd(start: Date, interval: 'month' | 'year', periods: number): Date {
  return addMonthsUtc(start, (interval === 'year' ? 12 : 1) * periods);
}

/**
 * What a self-renewing subscription's next months are counted from: its start, while its
 * current period lies on that cycle; else the current period's end (a period opened off
 * the cycle: a trial given mid-month), so the next periods are whole months from there.
 */
export function periodAnchor(createdAt: Date, period: Period): Date {
  const { start } = period;
  const months = (start.getUTCFullYear() - createdAt.getUTCFullYear()) * 12 + start.getUTCMonth() - createdAt.getUTCMonth();
  for (const m of [months - 1, months, months + 1]) {
    if (m >= 0 && addMonthsUtc(createdAt, m).getTime() === start.getTime()) return createdAt;
  }
  return period.end;
}

/** A billing period, [start, end): the instant `end` already belongs to the next one. */
export interface Period { start: Date; end: Date }

/** The calendar month in UTC holding `now`: the period of a tenant without a subscription. */
export function calendarMonthUtc(now: Date): Period {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) };
}

/**
 * Whether Stripe or PayPal keeps the subscription: it follows a subscription of theirs,
 * whose periods, trial and end are theirs to say (by their events) and Tollgate's to apply.
 * The same rule in SQL: repo.ts `KEPT_BY_PROVIDER`.
 */
export function keptByProvider(row: Pick<SubscriptionRow, 'paymentMethod' | 'providerSubscriptionId'>): boolean {
  return (row.paymentMethod === 'stripe' || row.paymentMethod === 'paypal') && row.providerSubscriptionId !== null;
}

/**
 * Whether the provider keeping a subscription ends it itself when it is set to cancel at
 * its period's end: Stripe does (the deletion event); PayPal's cancellation is the last
 * word it sends, so the sweeper ends those, as it ends Tollgate's own. The same rule in
 * SQL: repo.ts `ENDS_ITS_OWN_PERIOD`.
 */
export function endsItsOwnPeriod(row: Pick<SubscriptionRow, 'paymentMethod' | 'providerSubscriptionId'>): boolean {
  return keptByProvider(row) && row.paymentMethod === 'stripe';
}

/**
 * Whether a subscription is active on a period paid for that Tollgate keeps: a bank
 * transfer's, or one a payment of no subscription bought. When that period ends, the next
 * one paid for begins (the next month of several paid at once, or one paid ahead), else it
 * ended unpaid (past_due), or is canceled if so asked: modules/payments says which. The
 * same rule in SQL: repo.ts `PAID_BY_TOLLGATE`.
 */
export function paidByTollgate(row: Pick<SubscriptionRow, 'status' | 'paymentMethod' | 'providerSubscriptionId'>): boolean {
  return row.status === 'active' && row.paymentMethod !== null && !keptByProvider(row);
}

/**
 * Whether a subscription's period renews by itself, monthly, with the plan's credits: a
 * trial Tollgate keeps, and an active subscription nobody pays for (a free plan, a plan an
 * operator set). A paid period is opened by its payment (and its credits come with it);
 * one that ended unpaid stays ended (past_due), and one set to cancel ends with its period.
 * A provider's trial is a period of theirs: its credits come with its ($0) invoice, and
 * what follows it is what they say.
 */
export function renewsItself(row: Pick<SubscriptionRow, 'status' | 'paymentMethod' | 'cancelAtPeriodEnd' | 'providerSubscriptionId'>): boolean {
  return (row.status === 'trialing' && !keptByProvider(row)) || (row.status === 'active' && row.paymentMethod === null && !row.cancelAtPeriodEnd);
}

/** Subscriptions: every tenant has exactly one; its changes go through the lifecycle. */
export class BillingService {
  constructor(private readonly clock: Clock, private readonly lifecycle: SubscriptionLifecycle) {}

  async createForTenant(tx: Executor, tenantId: string, plan: string): Promise<Subscription> {
    const now = this.clock.now();
    const row = {
      tenantId,
      id: newId('sub', now.getTime()),
      plan,
      status: 'active' as const,
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
    return toSubscription({ ...row, cancelAtPeriodEnd: false, canceledAt: null, canceledFrom: null, providerSubscriptionId: null, providerCustomerId: null, providerUpdatedAt: null, providerPeriodEnd: null });
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
   * The tenant's current usage period. A self-renewing subscription whose period ended is
   * rolled forward here (lazily; the sweeper does the same for idle tenants), one month at
   * a time from its previous end, so periods stay contiguous however long it was idle;
   * period ends are counted in months from the subscription's start, so a subscription
   * begun on the 31st renews on the last day of short months and the 31st again after —
   * or from the current period's end, when that period was opened off that cycle (a trial
   * an operator gave mid-cycle): counted from the subscription's start, the roll after it
   * would be a stub of a day or two, with a whole period's credits and runs.
   * Any other subscription keeps its period, ended or not, until a payment opens the next.
   */
  async currentPeriod(tx: Executor, tenantId: string): Promise<Period> {
    const now = this.clock.now();
    for (let attempt = 0; attempt < 3; attempt++) {
      const row = await findSubscription(tx, tenantId);
      if (!row) return calendarMonthUtc(now);
      if (row.currentPeriodEnd > now || !renewsItself(row)) return { start: row.currentPeriodStart, end: row.currentPeriodEnd };
      const anchor = periodAnchor(row.createdAt, { start: row.currentPeriodStart, end: row.currentPeriodEnd });
      let start = row.currentPeriodEnd;
      let months = 1;
      while (addMonthsUtc(anchor, months) <= start) months++;
      let end = addMonthsUtc(anchor, months);
      while (end <= now) {
        start = end;
        end = addMonthsUtc(anchor, ++months);
      }
      if (await advancePeriod(tx, tenantId, row.currentPeriodEnd, start, end, now)) return { start, end };
      // another caller rolled it first (or changed the subscription): read what it wrote
    }
    throw new Error(`subscription period of ${tenantId} keeps moving`);
  }

  /** Whether the plan's credits for the current period come by themselves (else with its payment). */
  async grantsItself(tx: Executor, tenantId: string): Promise<boolean> {
    const row = await findSubscription(tx, tenantId);
    return !row || renewsItself(row);
  }

  async duePeriods(tx: Executor, limit: number): Promise<string[]> {
    return listDue(tx, this.clock.now(), limit);
  }

  /** An operator's change of plan (the status stays what it is): the subscription before and after, or null when it was on that plan already. */
  async setPlan(tx: Executor, tenantId: string, plan: string, actor: Actor, requestId?: string, limitsToldByCaller = false): Promise<Transitioned | null> {
    return this.lifecycle.apply(tx, tenantId, (row) => row.plan === plan ? null : { event: 'plan_changed', to: row.status, set: { plan }, actor, requestId, limitsToldByCaller });
  }

  /** A condition on a tenant id column: its subscription has this status and/or payment method. */
  tenantsWhere(tenantId: PgColumn, f: { status?: SubscriptionStatus | undefined; paymentMethod?: PaymentMethod | undefined }): SQL | undefined {
    return tenantsWithSubscription(tenantId, f);
  }
}
