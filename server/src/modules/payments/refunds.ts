import type { Db, Executor } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import type { Actor, AuditService } from '../audit/index.js';
import { lockSubscription, paidByTollgate, type SubscriptionLifecycle, type SubscriptionRow, type Transition } from '../billing/index.js';
import type { CreditsService } from '../credits/index.js';
import type { PaidPeriods } from './paid-periods.js';
import type { Provider, ProviderEvents } from './provider-events.js';
import * as repo from './repo.js';
import type { PaymentRef, PaymentRow } from './repo.js';
import type { PaymentsService } from './service.js';
import type { PaymentDispute } from './tables.js';

/** What a provider reports of a payment it gave back or that is contested. */
export type PaymentReversal = PaymentRef & (
  /** `total`: all refunded of it so far, where the provider says (Stripe's amount_refunded), else `amount`, this refund's, adds to what was recorded. `full`: the provider says it is refunded in full. */
  | { kind: 'refund'; amount?: number; total?: number; full?: boolean }
  /** A chargeback the provider settled against the merchant (PayPal's reversal). */
  | { kind: 'reversal' }
  | { kind: 'dispute'; state: PaymentDispute }
);

export interface RefundParts {
  db: Db;
  events: ProviderEvents;
  payments: PaymentsService;
  credits: CreditsService;
  audit: AuditService;
  lifecycle: SubscriptionLifecycle;
  paidPeriods: PaidPeriods;
}

/**
 * Refunds, reversals and disputes of a payment Tollgate recorded, once per event (the
 * claim in ProviderEvents.process). Money given back in full, a chargeback, a dispute lost:
 * the payment is `refunded`, the credits its grants added are taken back (as far as the
 * ledger allows: CreditsService.takeBack), and a period it bought that Tollgate keeps ends
 * now. A provider subscription's period is the provider's: its own state events say what
 * becomes of it (Stripe does not cancel a subscription on a refund). A partial refund is
 * recorded only: which part of a period's credits a part of its price paid for is no rule
 * the product has, and the period stays paid. A dispute opened, or won, is recorded only.
 */
export class Refunds {
  constructor(private readonly p: RefundParts) {}

  /** The payment's tenant is the one the reversal applies to: an external id or payment intent is one tenant's payment, whatever else the event names. */
  async receive(provider: Provider, event: { id: string; type: string; transmissionId?: string }, r: PaymentReversal): Promise<string> {
    const found = await inSystem(this.p.db, (tx) => repo.findByRef(tx, null, provider, r));
    const unknown = 'ignored: no payment Tollgate recorded is named (a refund or dispute delivered before its payment is not held)';
    return this.p.events.process(provider, event, found?.tenantId ?? null, (tx, tenantId) => this.apply(tx, tenantId, provider, r), unknown);
  }

  /**
   * Stripe's invoice_payment.paid (API 2025-03 on): the payment intent that paid an
   * invoice, which its invoice.paid no longer carries unless the endpoint includes the
   * invoice's payments. Kept on the payment, so that the charge's refunds and disputes,
   * which name only the payment intent, find it. Delivered before its invoice.paid, it
   * finds no payment and is recorded as ignored.
   */
  async paidBy(event: { id: string; type: string }, invoiceId: string | null, paymentIntent: string | null): Promise<string> {
    const ref = { externalId: invoiceId, paymentIntent: null };
    const found = invoiceId && paymentIntent ? await inSystem(this.p.db, (tx) => repo.findByRef(tx, null, 'stripe', ref)) : undefined;
    const unknown = 'ignored: no payment Tollgate recorded for this invoice (an invoice payment delivered before its invoice.paid is not held)';
    return this.p.events.process('stripe', event, found?.tenantId ?? null, async (tx, tenantId) => {
      const linked = await repo.linkPaymentIntent(tx, tenantId, invoiceId!, paymentIntent!);
      return linked ? `recorded: payment ${linked} paid by ${paymentIntent}` : 'ignored: the payment names its payment intent already';
    }, unknown);
  }

  private async apply(tx: Executor, tenantId: string, provider: Provider, r: PaymentReversal): Promise<string> {
    const named = await repo.findByRef(tx, tenantId, provider, r);
    if (!named?.externalPaymentId) return 'ignored: no payment Tollgate recorded is named';
    // The order applyPayment takes them in: the external id, then the subscription.
    await repo.lockExternalId(tx, provider, named.externalPaymentId);
    const payment = (await repo.findPayment(tx, tenantId, named.id))!;
    if (payment.status === 'refunded') return `ignored: payment ${payment.id} was refunded already`;
    if (payment.status !== 'succeeded') return `ignored: payment ${payment.id} is ${payment.status}, nothing was paid`;
    const actor: Actor = { type: 'system', id: provider };
    if (r.kind === 'dispute' && r.state !== 'lost') {
      await this.mark(tx, payment, { dispute: r.state }, `payment.dispute_${r.state === 'open' ? 'opened' : 'won'}`, actor);
      return `recorded: dispute ${r.state === 'open' ? 'opened' : 'won'} on payment ${payment.id}, nothing changed`;
    }
    if (r.kind === 'refund') {
      // Never less than recorded: Stripe's total of an earlier refund may arrive after a later one's.
      const total = Math.min(payment.amount, Math.max(payment.refundedAmount, r.total ?? payment.refundedAmount + (r.amount ?? 0)));
      const full = r.full ?? total >= payment.amount;
      if (!full) {
        await this.mark(tx, payment, { refundedAmount: total }, 'payment.partially_refunded', actor);
        return `recorded: ${total} of ${payment.amount} ${payment.currency} refunded, nothing taken back`;
      }
      return this.reverse(tx, payment, { refundedAmount: payment.amount, reason: 'refunded in full' }, actor);
    }
    const reason = r.kind === 'reversal' ? 'reversed: a chargeback' : 'charged back: the dispute was lost';
    return this.reverse(tx, payment, { dispute: 'lost', reason }, actor);
  }

  /** The payment refunded: its credits taken back, the period it bought for Tollgate to keep ended. */
  private async reverse(tx: Executor, payment: PaymentRow, patch: Partial<PaymentRow>, actor: Actor): Promise<string> {
    // The subscription before the credit account: the order a payment's activation and grant take them in.
    await lockSubscription(tx, payment.tenantId);
    const taken = await this.p.credits.takeBack(tx, payment.tenantId, payment.id, actor, `credits of payment ${payment.id}, ${patch.reason}`);
    const refunded = await this.mark(tx, payment, { ...patch, status: 'refunded' }, 'payment.refunded', actor, { creditsTakenBack: taken });
    const ended = payment.providerSubscriptionId === null ? await this.endPeriod(tx, refunded, actor) : 'the provider keeps its subscription';
    return `applied: payment ${payment.id} ${patch.reason}, ${taken} credits taken back, ${ended}`;
  }

  /** Changes the payment (still succeeded: the external id's lock holds it) and audits it, in this transaction. */
  private async mark(tx: Executor, payment: PaymentRow, patch: Partial<PaymentRow>, action: string, actor: Actor, data: Record<string, unknown> = {}): Promise<PaymentRow> {
    const row = (await repo.updatePayment(tx, payment.tenantId, payment.id, 'succeeded', { ...patch, updatedAt: this.p.payments.clock.now() }))!;
    await this.p.audit.record(tx, {
      tenantId: row.tenantId, actor, action, target: { type: 'payment', id: row.id },
      data: { method: row.method, externalPaymentId: row.externalPaymentId, amount: row.amount, currency: row.currency, refundedAmount: row.refundedAmount, dispute: row.dispute, reason: row.reason, ...data },
    });
    return row;
  }

  /**
   * The period the refunded payment bought, if the subscription stands on it now, ends
   * now: another payment's period running now takes over (paid for, it was granted
   * already), else it ended unpaid, as the sweeper ends one (past_due; canceled if it was
   * to be canceled at its end). past_due since that period began: it was never paid for
   * after all, so the grace counts from there, as for a period that ended unpaid — the
   * tenant keeps no more grace than one that never paid, and a refund after the grace
   * refuses the next request (PAYMENT_REQUIRED).
   */
  private async endPeriod(tx: Executor, payment: PaymentRow, actor: Actor): Promise<string> {
    const now = this.p.payments.clock.now();
    const row = await lockSubscription(tx, payment.tenantId);
    const standsOn = (r: SubscriptionRow) => paidByTollgate(r) && r.paymentMethod === payment.method && r.externalPaymentId === payment.externalPaymentId && r.currentPeriodEnd > now;
    if (!row || !standsOn(row)) return 'no period of it running';
    const next = await this.p.paidPeriods.next(tx, row, now, now);
    if (next) {
      await this.p.payments.activate(tx, payment.tenantId, next.payment, next.period, actor, { applies: standsOn, set: { cancelAtPeriodEnd: row.cancelAtPeriodEnd } });
      return `its period ended, payment ${next.payment.id}'s runs`;
    }
    const data = { paymentId: payment.id, reason: payment.reason };
    const transition: Transition = row.cancelAtPeriodEnd
      ? { event: 'canceled_at_period_end', to: 'canceled', set: { currentPeriodEnd: now, canceledAt: now, canceledFrom: 'active' }, actor, data }
      : { event: 'period_ended_unpaid', to: 'past_due', set: { currentPeriodEnd: now, pastDueSince: row.currentPeriodStart }, actor, data };
    const changed = await this.p.lifecycle.apply(tx, payment.tenantId, (r) => standsOn(r) ? transition : null);
    return changed ? `its period ended (${changed.after.status})` : 'no period of it running';
  }
}
