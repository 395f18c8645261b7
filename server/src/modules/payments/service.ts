import type { Db, Executor } from '../../db/client.js';
import { isUniqueViolation } from '../../db/errors.js';
import { inTenant } from '../../db/scope.js';
import type { ChangeFeed } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { keysetPage } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import type { Actor, AuditService } from '../audit/index.js';
import type { BillingEventHook, Period, Subscription, SubscriptionLifecycle, SubscriptionRow } from '../billing/index.js';
import type { CreditsService } from '../credits/index.js';
import type { Plan, PlansService } from '../plans/index.js';
import * as repo from './repo.js';
import type { PaymentRow } from './repo.js';
import { toPaymentView, type PaymentView } from './views.js';

/** How a payment activates: whether it applies to the subscription as it is (default: a period not older than the current one), what else it sets. */
export interface Activation {
  applies?: (row: SubscriptionRow) => boolean;
  set?: Partial<SubscriptionRow> | ((row: SubscriptionRow) => Partial<SubscriptionRow>);
  requestId?: string | undefined;
}

/** A new payment: what refunds and disputes later record on it starts empty. */
export type NewPayment = Omit<PaymentRow, 'refundedAmount' | 'dispute' | 'paymentIntent'> & Partial<Pick<PaymentRow, 'paymentIntent'>>;

/** A payment to write: a new row, or a change of one still in `from`. */
export type PaymentWrite =
  | { insert: NewPayment }
  | { update: { id: string; from: PaymentRow['status']; patch: Partial<PaymentRow> } };

export interface PaymentsParts {
  db: Db;
  clock: Clock;
  plans: PlansService;
  audit: AuditService;
  credits: CreditsService;
  lifecycle: SubscriptionLifecycle;
  changes: ChangeFeed;
  /** Told of payment.succeeded and payment.failed inside the transaction (the outbox, issue 22). */
  onEvent: BillingEventHook;
}

/**
 * Payments: their records, and the two things a payment does — it is recorded (the one
 * place payment.succeeded and payment.failed are told, with the audit entry), and a
 * payment that lands activates the subscription on the period it pays for, with the
 * plan's credits granted against it.
 */
export class PaymentsService {
  constructor(private readonly p: PaymentsParts) {}

  async list(tenantId: string, q: { cursor?: string | undefined; limit?: number | undefined }): Promise<{ payments: PaymentView[]; nextCursor: string | null }> {
    return inTenant(this.p.db, tenantId, async (tx) => {
      const page = await keysetPage({ cursor: q.cursor, limit: q.limit ?? 50 }, (before, limit) => repo.listPayments(tx, tenantId, before, limit));
      return { payments: page.items.map(toPaymentView), nextCursor: page.nextCursor };
    });
  }

  /**
   * Writes a payment; when it is decided (succeeded, failed, rejected, replaced) audits it,
   * and tells the event hook of a success or a failure. An external id another tenant's payment already has is IDEMPOTENCY_CONFLICT.
   */
  async record(tx: Executor, tenantId: string, write: PaymentWrite, actor: Actor, requestId?: string): Promise<PaymentRow> {
    let row: PaymentRow | undefined;
    try {
      if ('insert' in write) {
        row = { refundedAmount: 0, dispute: null, paymentIntent: null, ...write.insert };
        await repo.insertPayment(tx, row);
      } else {
        row = await repo.updatePayment(tx, tenantId, write.update.id, write.update.from, { ...write.update.patch, updatedAt: this.p.clock.now() });
      }
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('IDEMPOTENCY_CONFLICT', 'this external payment id was already recorded with another payment');
      throw error;
    }
    if (!row) throw new AppError('PAYMENT_NOT_PENDING');
    if (row.status !== 'pending') {
      // A request replaced by another (canceled) is neither paid nor failed: audited only.
      if (row.status !== 'canceled') {
        await this.p.onEvent(tx, { type: row.status === 'succeeded' ? 'payment.succeeded' : 'payment.failed', tenantId, data: { payment: toPaymentView(row) } });
      }
      await this.p.audit.record(tx, {
        tenantId, actor, action: `payment.${row.status}`, target: { type: 'payment', id: row.id },
        data: { method: row.method, externalPaymentId: row.externalPaymentId, amount: row.amount, currency: row.currency, plan: row.plan, reason: row.reason },
        requestId,
      });
    }
    return row;
  }

  /**
   * The subscription active on the period a payment pays for (a newer one than it has, or
   * the same one paid at last), on the payment's plan and method, with the plan's credits
   * for that period granted against the payment.
   */
  async activate(tx: Executor, tenantId: string, payment: PaymentRow, period: Period, actor: Actor, a: Activation = {}): Promise<Subscription | null> {
    const changed = await this.p.lifecycle.apply(tx, tenantId, (row) => {
      if (!(a.applies ?? ((r: SubscriptionRow) => period.end >= r.currentPeriodEnd))(row)) return null;
      return {
        event: 'payment_succeeded', to: 'active', actor, requestId: a.requestId, data: { paymentId: payment.id },
        set: {
          plan: payment.plan, paymentMethod: payment.method, externalPaymentId: payment.externalPaymentId,
          currentPeriodStart: period.start, currentPeriodEnd: period.end, pastDueSince: null, trialEndsAt: null,
          cancelAtPeriodEnd: false, canceledAt: null, canceledFrom: null, ...(typeof a.set === 'function' ? a.set(row) : a.set),
        },
      };
    });
    if (!changed) return null;
    await this.grantFor(tx, tenantId, payment, period, actor);
    return changed.after;
  }

  /** The plan's credits for the period a payment pays for, granted against it (once). */
  async grantFor(tx: Executor, tenantId: string, payment: PaymentRow, period: Period, actor: Actor): Promise<void> {
    const plan = this.p.plans.ofSubscription(payment.plan);
    await this.p.credits.grantForPeriod(tx, tenantId, period.start, plan.creditsPerPeriod, { id: payment.id, actor });
  }

  /** A transaction of the tenant whose subscription change every process hears of before this returns. */
  commit<T>(tenantId: string, work: (tx: Executor) => Promise<T>): Promise<T> {
    return this.p.changes.commit({ kind: 'tenant', id: tenantId }, () => inTenant(this.p.db, tenantId, work));
  }

  get clock(): Clock {
    return this.p.clock;
  }

  get plans(): PlansService {
    return this.p.plans;
  }
}

/**
 * Whether a payment covers `periods` periods of a plan's price, in its currency — what a
 * bank transfer must pay, and a provider's payment of no subscription (a plan without a
 * price is free: nothing to pay for).
 */
export function coversPrice(price: Plan['price'], paid: { amount: number; currency: string }, periods = 1): boolean {
  return price !== undefined && paid.currency === price.currency && paid.amount >= price.amount * periods;
}
