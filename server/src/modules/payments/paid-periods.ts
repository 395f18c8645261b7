import type { Executor } from '../../db/client.js';
import type { Actor } from '../audit/index.js';
import { addMonthsUtc, keptByProvider, lockSubscription, paidByTollgate, type PaidTime, type Period, type SubscriptionLifecycle, type SubscriptionRow } from '../billing/index.js';
import * as repo from './repo.js';
import type { PaymentRow } from './repo.js';
import type { PaymentsService } from './service.js';

const SYSTEM: Actor = { type: 'system', id: null };

/**
 * The periods a payment pays for, in order: `periods` whole intervals from its start, each
 * a usage period of its own with the plan's credits — three months paid up front are
 * three monthly periods, not one of three months with one month's credits and runs.
 * Counted in months from the payment's start, so the day never drifts (Jan 31 → Feb 28 →
 * Mar 31). A span of no whole number of intervals (a provider's period) is one period.
 */
export function periodsOf(p: Pick<PaymentRow, 'periodStart' | 'periodEnd' | 'periods'>): Period[] {
  const { periodStart: start, periodEnd: end } = p;
  if (!start || !end) return [];
  const months = (end.getUTCFullYear() - start.getUTCFullYear()) * 12 + end.getUTCMonth() - start.getUTCMonth();
  const step = months / p.periods;
  if (p.periods <= 1 || !Number.isInteger(step) || step < 1 || addMonthsUtc(start, months).getTime() !== end.getTime()) return [{ start, end }];
  return Array.from({ length: p.periods }, (_, k) => ({ start: addMonthsUtc(start, k * step), end: addMonthsUtc(start, (k + 1) * step) }));
}

/** A period paid for, and the payment that paid for it. */
export interface PaidPeriod { payment: PaymentRow; period: Period }

/**
 * What follows a paid period Tollgate keeps (a transfer's, or one a payment of no
 * subscription bought) when it ends: the next period paid for — the next month of
 * several paid at once, or one paid ahead — with its credits, else past_due; and what
 * follows an operator's trial given over such a period: the period paid for, still
 * running (billing's PaidTime).
 */
export class PaidPeriods implements PaidTime {
  constructor(private readonly payments: PaymentsService, private readonly lifecycle: SubscriptionLifecycle) {}

  /** The first period paid for that ends after `from` and has begun by `at`. */
  async next(tx: Executor, row: SubscriptionRow, from: Date, at: Date): Promise<PaidPeriod | null> {
    for (const payment of await repo.paidSpans(tx, row.tenantId, row.id, from, at)) {
      const period = periodsOf(payment).find((p) => p.end > from && p.start <= at);
      if (period) return { payment, period };
    }
    return null;
  }

  /**
   * The sweeper found the subscription's paid period ended by `at`: the periods paid for
   * after it begin, one at a time, each with the plan's credits for it (once per period:
   * the grant's key is the period), up to the one `at` falls in; then, nothing more paid
   * for, it ended unpaid (past_due from its end). A cancellation at the period's end waits
   * for the periods paid for to run out: false (nothing changed) leaves it to the sweeper's
   * cancellation. Under the row's lock, its condition checked again: exactly once among
   * processes.
   */
  async periodEnded(tx: Executor, tenantId: string, at: Date): Promise<boolean> {
    let changed = false;
    for (;;) {
      const row = await lockSubscription(tx, tenantId);
      if (!row || !paidByTollgate(row) || row.currentPeriodEnd > at) return changed;
      const next = await this.next(tx, row, row.currentPeriodEnd, at);
      if (next) {
        const opened = await this.payments.activate(tx, tenantId, next.payment, next.period, SYSTEM, { set: { cancelAtPeriodEnd: row.cancelAtPeriodEnd } });
        if (!opened) return changed;
        changed = true;
        continue;
      }
      if (row.cancelAtPeriodEnd) return changed;
      return (await this.lifecycle.apply(tx, tenantId, (r) => ({ event: 'period_ended_unpaid', to: 'past_due', set: { pastDueSince: r.currentPeriodEnd }, actor: SYSTEM }))) !== null;
    }
  }

  /**
   * A trial Tollgate keeps ends at `at` (`due`: the sweeper's, only if it ran out by then)
   * while a period paid for runs — an operator's trial given over a paid period, whose
   * days ran on under it, or one paid ahead that began meanwhile: the trial ends back into
   * that period, on its plan, with its credits (granted once per period: the first was
   * with its payment), instead of suspended until paid. A cancellation asked for during
   * the trial waits for the periods paid for to run out. False when no paid period runs.
   */
  async trialEnded(tx: Executor, tenantId: string, at: Date, due: boolean, actor: Actor, requestId?: string): Promise<boolean> {
    const row = await lockSubscription(tx, tenantId);
    if (!row || row.status !== 'trialing' || keptByProvider(row) || (due && (row.trialEndsAt === null || row.trialEndsAt > at))) return false;
    const paid = await this.next(tx, row, at, at);
    if (!paid) return false;
    const { payment, period } = paid;
    await this.lifecycle.apply(tx, tenantId, (r) => ({
      event: 'trial_ended', to: 'active', actor, requestId, data: { paymentId: payment.id },
      set: {
        plan: payment.plan, paymentMethod: payment.method, externalPaymentId: payment.externalPaymentId,
        currentPeriodStart: period.start, currentPeriodEnd: period.end, pastDueSince: null, canceledAt: null, canceledFrom: null,
        trialEndsAt: r.trialEndsAt !== null && r.trialEndsAt < at ? r.trialEndsAt : at,
      },
    }));
    await this.payments.grantFor(tx, tenantId, payment, period, actor);
    return true;
  }
}
