import Stripe from 'stripe';
import type { Executor } from '../../db/client.js';
import { isStorableInstant, type Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { Period, SubscriptionStatus } from '../billing/index.js';
import type { ProviderEvents, ProviderState } from './provider-events.js';
import type { PaymentReversal, Refunds } from './refunds.js';

/** Stripe's subscription statuses as Tollgate's. */
const STATUS: Record<string, SubscriptionStatus> = {
  trialing: 'trialing', active: 'active', past_due: 'past_due', unpaid: 'suspended', paused: 'suspended',
  canceled: 'canceled', incomplete: 'pending_payment', incomplete_expired: 'canceled',
};

type Obj = Record<string, unknown>;

/**
 * Stripe's webhooks: the signature checked by the `stripe` package on the raw bytes,
 * against each configured signing secret (several while one is rotated), with its
 * default tolerance of 5 minutes; then the event applied once (provider-events.ts).
 * The tenant is the `metadata.tenantId` of the checkout session, subscription or
 * invoice's subscription, else the subscription or customer the tenant follows.
 */
export class StripeWebhooks {
  constructor(
    private readonly secrets: readonly string[],
    private readonly prices: Readonly<Record<string, string>>,
    private readonly clock: Clock,
    private readonly events: ProviderEvents,
    private readonly refunds: Refunds,
  ) {}

  /** The event, if one of the secrets signed these exact bytes within the tolerance; else WEBHOOK_SIGNATURE_INVALID. */
  verify(raw: Buffer, signature: string | undefined): Stripe.Event {
    if (!signature || raw.length === 0) throw new AppError('WEBHOOK_SIGNATURE_INVALID');
    for (const secret of this.secrets) {
      try {
        return Stripe.webhooks.constructEvent(raw, signature, secret, undefined, undefined, this.clock.now().getTime());
      } catch {
        // the next secret, or none matched
      }
    }
    throw new AppError('WEBHOOK_SIGNATURE_INVALID');
  }

  async receive(raw: Buffer, signature: string | undefined): Promise<string> {
    const event = this.verify(raw, signature);
    if (typeof event?.id !== 'string' || typeof event.type !== 'string') throw new AppError('BAD_REQUEST', 'not a Stripe event');
    const object = ((event.data as { object?: unknown } | undefined)?.object ?? {}) as Obj;
    // Only an event Tollgate applies is dated (an older state than one applied is dropped):
    // one of a type it ignores is answered without its `created`.
    const at = () => createdOf(event);
    switch (event.type) {
      case 'checkout.session.completed': {
        if (object.mode !== 'subscription' || typeof object.subscription !== 'string') return this.events.process('stripe', event, null, null);
        const state: ProviderState = { subscriptionId: object.subscription, customerId: str(object.customer), at: at(), creates: true };
        return this.apply(event, { fromMetadata: metadataTenant(object) ?? str(object.client_reference_id), subscriptionId: state.subscriptionId }, (tx, tenantId) => this.events.applyState(tx, tenantId, 'stripe', state));
      }
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.deleted': {
        const state = this.subscriptionState(object, at(), event.type === 'customer.subscription.created');
        return this.apply(event, { fromMetadata: metadataTenant(object), subscriptionId: state.subscriptionId, customerId: state.customerId }, (tx, tenantId) => this.events.applyState(tx, tenantId, 'stripe', state));
      }
      case 'invoice.paid':
      case 'invoice.payment_failed': {
        const subscriptionId = invoiceSubscription(object);
        const { line, prorationsOnly } = periodLine(object);
        // null: prorations only, no period; undefined: the invoice names none.
        const period = prorationsOnly ? null : (line && periodOf(line.period as Obj | undefined)) ?? undefined;
        const payment = {
          externalId: str(object.id), subscriptionId, succeeded: event.type === 'invoice.paid',
          amount: Math.max(0, Math.trunc(Number(event.type === 'invoice.paid' ? object.amount_paid : object.amount_due)) || 0), currency: currencyOf(object.currency),
          reason: event.type === 'invoice.payment_failed' ? 'the invoice payment failed' : null, period,
          plan: line ? this.planOf(linePrice(line)) : undefined, billed: line ? billedBy(line, object.currency) : undefined,
          paymentIntent: invoicePaymentIntent(object), at: at(),
        };
        return this.apply(event, { fromMetadata: invoiceTenant(object), subscriptionId, customerId: str(object.customer) }, (tx, tenantId) => this.events.applyPayment(tx, tenantId, 'stripe', payment));
      }
      case 'invoice_payment.paid':
        return this.refunds.paidBy(event, str(object.invoice), str((object.payment as Obj | undefined)?.payment_intent));
      case 'charge.refunded':
      case 'charge.dispute.created':
      case 'charge.dispute.closed':
        return this.refunds.receive('stripe', event, chargeReversal(event.type, object));
      default:
        return this.events.process('stripe', event, null, null);
    }
  }

  private async apply(event: Stripe.Event, tenant: Parameters<ProviderEvents['tenantOf']>[1], work: (tx: Executor, tenantId: string) => Promise<string>): Promise<string> {
    return this.events.process('stripe', event, await this.events.tenantOf('stripe', tenant), work);
  }

  private subscriptionState(sub: Obj, at: Date, creates: boolean): ProviderState {
    const items = ((sub.items as Obj | undefined)?.data as Obj[] | undefined) ?? [];
    const item = items[0];
    // API versions before 2025-03 carry the period on the subscription, later ones on its items.
    const start = num(sub.current_period_start) ?? num(item?.current_period_start);
    const end = num(sub.current_period_end) ?? num(item?.current_period_end);
    const trialEnd = num(sub.trial_end);
    return {
      subscriptionId: String(sub.id), customerId: str(sub.customer), at, creates,
      status: STATUS[String(sub.status)], plan: this.planOf(str((item?.price as Obj | undefined)?.id)),
      period: start !== undefined && end !== undefined ? { start: new Date(start * 1000), end: new Date(end * 1000) } : undefined,
      cancelAtPeriodEnd: typeof sub.cancel_at_period_end === 'boolean' ? sub.cancel_at_period_end : undefined,
      trialEndsAt: sub.status === 'trialing' && trialEnd !== undefined ? new Date(trialEnd * 1000) : undefined,
    };
  }

  private planOf(priceId: string | null): string | undefined {
    return priceId ? this.prices[priceId] : undefined;
  }
}

/** When Stripe made the event (its `created`, seconds since 1970): what dates, and orders, the states and payments it brings. */
function createdOf(event: Stripe.Event): Date {
  const ms = typeof event.created === 'number' ? event.created * 1000 : Number.NaN;
  if (!isStorableInstant(ms)) throw new AppError('BAD_REQUEST', `a ${event.type} event needs its created time (seconds since 1970): it dates what the event changes`);
  return new Date(ms);
}

function str(value: unknown): string | null {
  if (typeof value === 'string' && value !== '') return value;
  if (value && typeof value === 'object' && typeof (value as Obj).id === 'string') return (value as Obj).id as string;
  return null;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** ISO 4217, upper case (Stripe writes it lower case); XXX ("no currency") for anything else. */
export function currencyOf(value: unknown): string {
  const code = typeof value === 'string' ? value.toUpperCase() : '';
  return /^[A-Z]{3}$/.test(code) ? code : 'XXX';
}

function metadataTenant(object: Obj): string | null {
  return str((object.metadata as Obj | null | undefined)?.tenantId);
}

/** The invoice's subscription: `parent.subscription_details` (API 2025-03 and later) or `subscription` before. */
function invoiceSubscription(invoice: Obj): string | null {
  const details = (invoice.parent as Obj | null | undefined)?.subscription_details as Obj | null | undefined;
  return str(details?.subscription) ?? str(invoice.subscription);
}

/**
 * The payment intent that paid the invoice: `payment_intent` before API 2025-03; from then
 * its `payments` (paid ones), which an event carries only where the endpoint includes them.
 */
function invoicePaymentIntent(invoice: Obj): string | null {
  const payments = ((invoice.payments as Obj | null | undefined)?.data as Obj[] | undefined) ?? [];
  const paid = payments.find((p) => p.status === 'paid') ?? payments[0];
  return str(invoice.payment_intent) ?? str((paid?.payment as Obj | undefined)?.payment_intent);
}

/** Dispute statuses that end it in the merchant's favour (an inquiry closed, a chargeback prevented) or against it. */
const DISPUTE_CLOSED: Record<string, 'won' | 'lost'> = { won: 'won', warning_closed: 'won', prevented: 'won', lost: 'lost' };

/**
 * A charge's refund, or a dispute of it, as the payment it names: the charge's invoice
 * (before API 2025-03: `invoice`; a dispute's charge, where expanded), else its payment
 * intent, which the invoice's payment recorded. Stripe's `refunded` says refunded in full;
 * `amount_refunded` is all refunded so far.
 */
function chargeReversal(type: string, object: Obj): PaymentReversal {
  if (type === 'charge.refunded') {
    return {
      kind: 'refund', externalId: str(object.invoice), paymentIntent: str(object.payment_intent),
      total: Math.max(0, Math.trunc(Number(object.amount_refunded)) || 0), full: object.refunded === true,
    };
  }
  const charge = object.charge && typeof object.charge === 'object' ? object.charge as Obj : {};
  const state = type === 'charge.dispute.created' ? 'open' : DISPUTE_CLOSED[String(object.status)] ?? 'open';
  return { kind: 'dispute', state, externalId: str(charge.invoice), paymentIntent: str(object.payment_intent) ?? str(charge.payment_intent) };
}

/** The subscription's metadata as the invoice carries it, else the invoice's own. */
function invoiceTenant(invoice: Obj): string | null {
  const details = ((invoice.parent as Obj | null | undefined)?.subscription_details ?? invoice.subscription_details) as Obj | null | undefined;
  return str((details?.metadata as Obj | null | undefined)?.tenantId) ?? metadataTenant(invoice);
}

/**
 * The invoice's line of the period it pays for: its first line that is not a proration.
 * A proration's period is [the change, the period's end], and Stripe lists prorations
 * first (a mid-period upgrade invoiced at once; a renewal carrying the last period's
 * pending ones). An invoice of prorations only pays for no period.
 */
function periodLine(invoice: Obj): { line: Obj | undefined; prorationsOnly: boolean } {
  const lines = ((invoice.lines as Obj | undefined)?.data as Obj[] | undefined) ?? [];
  const line = lines.find((l) => !isProration(l));
  return { line, prorationsOnly: lines.length > 0 && line === undefined };
}

/** `parent.subscription_item_details.proration` (API 2025-03 and later) or `proration` before. */
function isProration(line: Obj): boolean {
  const details = (line.parent as Obj | null | undefined)?.subscription_item_details as Obj | null | undefined;
  return details?.proration === true || line.proration === true;
}

/** What the line bills before discounts (its `amount`), in the invoice's currency; undefined when it says none. */
function billedBy(line: Obj, currency: unknown): { amount: number; currency: string } | undefined {
  const amount = num(line.amount);
  return amount === undefined ? undefined : { amount: Math.trunc(amount), currency: currencyOf(currency) };
}

/** A line's price: `pricing.price_details.price` (API 2025-03 and later) or `price.id` before. */
function linePrice(line: Obj): string | null {
  const details = (line.pricing as Obj | null | undefined)?.price_details as Obj | null | undefined;
  return str(details?.price) ?? str(line.price);
}

function periodOf(period: Obj | undefined): Period | null {
  const start = num(period?.start);
  const end = num(period?.end);
  return start !== undefined && end !== undefined && end > start ? { start: new Date(start * 1000), end: new Date(end * 1000) } : null;
}
