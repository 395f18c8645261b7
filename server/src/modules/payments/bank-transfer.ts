import { randomInt } from 'node:crypto';
import type { Executor } from '../../db/client.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { CallContext } from '../../lib/principal.js';
import type { Actor } from '../audit/index.js';
import { keptByProvider, lockSubscription, paidByTollgate, paidPeriodEnd, toSubscription, type Subscription, type SubscriptionLifecycle, type SubscriptionRow } from '../billing/index.js';
import { requestHash } from '../credits/index.js';
import type { Plan } from '../plans/index.js';
import { periodsOf } from './paid-periods.js';
import * as repo from './repo.js';
import { coversPrice, type PaymentsService } from './service.js';
import { toPaymentView, type PaymentView } from './views.js';

export interface TransferConfirmation {
  externalPaymentId: string;
  amount: number;
  currency: string;
  payerName: string;
  proofUrl?: string | undefined;
  plan?: string | undefined;
  periods?: number | undefined;
  /** The transfer asked for; default: the one the tenant awaits, if any. */
  paymentId?: string | undefined;
}

export interface PaymentOutcome { payment: PaymentView; subscription: Subscription; replayed: boolean }

const REFERENCE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Bank transfers, the seeds' active payment path: the tenant asks for a plan (its
 * subscription waits in pending_payment, with a reference to quote; or, asked for while a
 * paid period runs, for the period after it); an operator confirms the money arrived (once
 * per external payment id) or rejects the request.
 */
export class BankTransfers {
  constructor(private readonly payments: PaymentsService, private readonly lifecycle: SubscriptionLifecycle) {}

  /** The owner/admin asks for `plan` by transfer: the amount due and the reference to quote. */
  request(tenantId: string, planId: string, actor: Actor, ctx: CallContext): Promise<{ paymentId: string; reference: string; amount: number; currency: string; plan: string }> {
    const plan = this.payments.plans.require(planId);
    const price = priceOf(plan);
    return this.payments.commit(tenantId, async (tx) => {
      const now = this.payments.clock.now();
      const id = newId('pay', now.getTime());
      // The row first (the order every change takes it in), then what its payments paid for.
      const locked = await lockSubscription(tx, tenantId);
      const paidUntil = locked ? await paidThrough(tx, locked, now) : null;
      let previous: Pick<SubscriptionRow, 'status' | 'plan'> | undefined;
      await this.lifecycle.apply(tx, tenantId, (row) => {
        assertNotBilledByProvider(row);
        previous = row;
        // Asked for while paid time runs (next month's reference), the transfer pays for the
        // period after it: the tenant keeps its standing and plan until then, not locked out
        // at once; a confirmation queues the period it pays for behind the paid one.
        if (paidUntil) return { event: 'renewal_requested', to: row.status, actor, requestId: ctx.requestId, data: { paymentId: id, plan: plan.id, paidThrough: paidUntil.toISOString() } };
        return { event: 'transfer_requested', to: 'pending_payment', set: { plan: plan.id }, actor, requestId: ctx.requestId, data: { paymentId: id } };
      });
      const replaced = await repo.lockPendingTransfer(tx, tenantId);
      if (replaced) {
        // A new request replaces the one awaited. A rejection restores the state before the
        // request that made the subscription wait: the first, if it did (one asked for ahead
        // did not, and the subscription may have moved since: a period that ended unpaid).
        await this.payments.record(tx, tenantId, { update: { id: replaced.id, from: 'pending', patch: { status: 'canceled', reason: `replaced by ${id}` } } }, actor, ctx.requestId);
        if (previous!.status === 'pending_payment') previous = { status: replaced.previousStatus ?? previous!.status, plan: replaced.previousPlan ?? previous!.plan };
      }
      const subscription = (await lockSubscription(tx, tenantId))!;
      await this.payments.record(tx, tenantId, {
        insert: {
          tenantId, id, subscriptionId: subscription.id, method: 'bank_transfer', externalPaymentId: null, providerSubscriptionId: null, reference: newReference(),
          amount: price.amount, currency: price.currency, status: 'pending', plan: plan.id, periods: 1, periodStart: null, periodEnd: null,
          payerName: null, proofUrl: null, reason: null, requestHash: null, previousStatus: previous!.status, previousPlan: previous!.plan,
          decidedBy: null, createdAt: now, updatedAt: now,
        },
      }, actor, ctx.requestId);
      const row = (await repo.findPayment(tx, tenantId, id))!;
      return { paymentId: id, reference: row.reference!, amount: row.amount, currency: row.currency, plan: row.plan };
    });
  }

  /**
   * An operator confirms a transfer arrived. One transaction: the payment recorded, the
   * subscription active on the first period it pays for (or, paid ahead, queued after the
   * paid one running), the plan's credits for it granted against the payment, the audit
   * entries. The same external id again is
   * a replay (the same body) or IDEMPOTENCY_CONFLICT (another); two confirmations racing
   * queue on the external id, and the second is the replay.
   */
  confirm(tenantId: string, c: TransferConfirmation, operatorId: string, ctx: CallContext): Promise<PaymentOutcome> {
    const actor: Actor = { type: 'operator', id: operatorId };
    const hash = requestHash({ amount: c.amount, currency: c.currency, payerName: c.payerName, proofUrl: c.proofUrl, plan: c.plan, periods: c.periods, paymentId: c.paymentId });
    return this.payments.commit(tenantId, async (tx) => {
      await repo.lockExternalId(tx, 'bank_transfer', c.externalPaymentId);
      const previous = await repo.findByExternalId(tx, tenantId, 'bank_transfer', c.externalPaymentId);
      if (previous) {
        if (previous.requestHash !== hash) throw new AppError('IDEMPOTENCY_CONFLICT', 'this externalPaymentId was confirmed with another body');
        return { payment: toPaymentView(previous), subscription: await this.current(tx, tenantId), replayed: true };
      }
      // The subscription first, then the payment awaited: the order a request takes them in.
      const sub = (await lockSubscription(tx, tenantId))!;
      assertNotBilledByProvider(sub);
      const pending = await this.awaited(tx, tenantId, c.paymentId);
      const plan = this.payments.plans.require(c.plan ?? pending?.plan ?? sub.plan);
      const price = priceOf(plan);
      const periods = c.periods ?? pending?.periods ?? 1;
      if (!coversPrice(price, c, periods)) {
        throw new AppError('PAYMENT_AMOUNT_MISMATCH', `due for ${periods} ${price.interval}(s) of ${plan.id}: ${price.amount * periods} ${price.currency}`);
      }
      const now = this.payments.clock.now();
      // Paid ahead (a period still running is paid already): the new period follows it.
      const start = (await paidThrough(tx, sub, now)) ?? now;
      const fields = {
        externalPaymentId: c.externalPaymentId, amount: c.amount, currency: c.currency, status: 'succeeded' as const, plan: plan.id, periods,
        periodStart: start, periodEnd: paidPeriodEnd(start, price.interval, periods), payerName: c.payerName, proofUrl: c.proofUrl ?? null, requestHash: hash, decidedBy: operatorId,
      };
      const payment = await this.payments.record(tx, tenantId, pending
        ? { update: { id: pending.id, from: 'pending', patch: fields } }
        : { insert: { ...fields, tenantId, id: newId('pay', now.getTime()), subscriptionId: sub.id, method: 'bank_transfer', providerSubscriptionId: null, reference: null, reason: null, previousStatus: null, previousPlan: null, createdAt: now, updatedAt: now } },
      actor, ctx.requestId);
      // The first of the periods it pays for; the sweeper opens the others as each ends (paid-periods.ts).
      if (start <= now) await this.payments.activate(tx, tenantId, payment, periodsOf(payment)[0]!, actor, { requestId: ctx.requestId, set: { providerSubscriptionId: null, providerPeriodEnd: null } });
      else if (sub.cancelAtPeriodEnd) await this.lifecycle.apply(tx, tenantId, (row) => ({ event: 'resumed', to: row.status, set: { cancelAtPeriodEnd: false }, actor, requestId: ctx.requestId, data: { paymentId: payment.id } }));
      return { payment: toPaymentView(payment), subscription: await this.current(tx, tenantId), replayed: false };
    });
  }

  /** An operator rejects the transfer awaited (it never came, or not in full): the subscription goes back to what it was. */
  reject(tenantId: string, paymentId: string, reason: string, operatorId: string, ctx: CallContext): Promise<PaymentOutcome> {
    const actor: Actor = { type: 'operator', id: operatorId };
    return this.payments.commit(tenantId, async (tx) => {
      // The subscription first, then the payment: the order a request takes them in.
      await lockSubscription(tx, tenantId);
      const found = await repo.findPayment(tx, tenantId, paymentId);
      if (!found) throw new AppError('PAYMENT_NOT_FOUND');
      if (found.status === 'rejected' && found.reason === reason) return { payment: toPaymentView(found), subscription: await this.current(tx, tenantId), replayed: true };
      if (found.status !== 'pending') throw new AppError('PAYMENT_NOT_PENDING');
      const payment = await this.payments.record(tx, tenantId, { update: { id: paymentId, from: 'pending', patch: { status: 'rejected', reason, decidedBy: operatorId } } }, actor, ctx.requestId);
      await this.lifecycle.apply(tx, tenantId, (row) => row.status !== 'pending_payment' ? null : {
        event: 'transfer_rejected', to: payment.previousStatus ?? 'suspended', set: { plan: payment.previousPlan ?? row.plan },
        actor, requestId: ctx.requestId, data: { paymentId, reason },
      });
      return { payment: toPaymentView(payment), subscription: await this.current(tx, tenantId), replayed: false };
    });
  }

  private async awaited(tx: Executor, tenantId: string, paymentId: string | undefined): Promise<repo.PaymentRow | undefined> {
    const pending = await repo.lockPendingTransfer(tx, tenantId);
    if (paymentId === undefined || pending?.id === paymentId) return pending;
    const named = await repo.findPayment(tx, tenantId, paymentId);
    throw new AppError(named && named.method === 'bank_transfer' ? 'PAYMENT_NOT_PENDING' : 'PAYMENT_NOT_FOUND');
  }

  private async current(tx: Executor, tenantId: string): Promise<Subscription> {
    return toSubscription((await lockSubscription(tx, tenantId))!);
  }
}

/**
 * A subscription Stripe or PayPal bills (a period of theirs running) is paid there: a
 * transfer asked for or confirmed would wait behind a period only they can end.
 */
function assertNotBilledByProvider(row: SubscriptionRow): void {
  if (keptByProvider(row) && (row.status === 'active' || row.status === 'trialing')) {
    throw new AppError('SUBSCRIPTION_MANAGED_BY_PROVIDER', `this subscription is kept by ${row.paymentMethod}: it is paid there`);
  }
}

/**
 * Until when the tenant stands on paid time Tollgate keeps, if it does now: active on a
 * period a transfer (or a payment of no subscription) paid for, or on one paid ahead after
 * it, or on an operator's trial over such time (it ends back into it). A transfer asked
 * for or confirmed then is for the period after that time.
 */
async function paidThrough(tx: Executor, row: SubscriptionRow, now: Date): Promise<Date | null> {
  const trial = row.status === 'trialing' && !keptByProvider(row);
  if (!paidByTollgate(row) && !trial) return null;
  const latest = await repo.latestPaidEnd(tx, row.tenantId, row.id);
  // A trial's period is its own, not paid for.
  const end = !trial && (latest === null || row.currentPeriodEnd > latest) ? row.currentPeriodEnd : latest;
  return end && end > now ? end : null;
}

function priceOf(plan: Plan): NonNullable<Plan['price']> {
  if (!plan.price) throw new AppError('PLAN_NOT_BILLABLE', `plan "${plan.id}" has no price`);
  return plan.price;
}

/** What the payer writes on the transfer: TG-XXXX-XXXX, no ambiguous letters. */
function newReference(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += REFERENCE_ALPHABET[randomInt(REFERENCE_ALPHABET.length)];
  return `TG-${code.slice(0, 4)}-${code.slice(4)}`;
}
