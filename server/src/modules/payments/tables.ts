import { bigint, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';
import type { PaymentMethod, SubscriptionStatus } from '../billing/index.js';

/** `refunded`: a provider's payment given back in full, reversed (a chargeback) or lost in a dispute (refunds.ts). */
export type PaymentStatus = 'pending' | 'succeeded' | 'failed' | 'rejected' | 'canceled' | 'refunded';

/** A dispute (Stripe's) opened on a payment, and how it closed (migration 0036). */
export type PaymentDispute = 'open' | 'won' | 'lost';

export const payments = pgTable('payments', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  subscriptionId: text('subscription_id').notNull(),
  method: text('method').$type<PaymentMethod>().notNull(),
  /** The bank's transaction reference, Stripe's invoice, PayPal's sale or capture: unique per method. */
  externalPaymentId: text('external_payment_id'),
  /** The provider subscription a Stripe or PayPal payment paid for, if it names one. */
  providerSubscriptionId: text('provider_subscription_id'),
  /** What the payer quotes on a bank transfer. */
  reference: text('reference'),
  amount: bigint('amount', { mode: 'number' }).notNull(),
  currency: text('currency').notNull(),
  status: text('status').$type<PaymentStatus>().notNull(),
  plan: text('plan').notNull(),
  periods: integer('periods').notNull(),
  periodStart: at('period_start'),
  periodEnd: at('period_end'),
  payerName: text('payer_name'),
  proofUrl: text('proof_url'),
  reason: text('reason'),
  requestHash: text('request_hash'),
  previousStatus: text('previous_status').$type<SubscriptionStatus>(),
  previousPlan: text('previous_plan'),
  decidedBy: text('decided_by'),
  /** What the provider gave back of it so far (migration 0036). */
  refundedAmount: bigint('refunded_amount', { mode: 'number' }).notNull().default(0),
  dispute: text('dispute').$type<PaymentDispute>(),
  /** Stripe's payment intent that paid the invoice, which its refunds and disputes name. */
  paymentIntent: text('payment_intent'),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

/** Provider events processed once each (append-only). */
export const providerEvents = pgTable('provider_events', {
  provider: text('provider').$type<'stripe' | 'paypal'>().notNull(),
  eventId: text('event_id').notNull(),
  type: text('type').notNull(),
  /** The tenant it was applied to; none for an event naming no tenant Tollgate knows. */
  appliedTenant: text('applied_tenant'),
  /** PayPal's transmission that carried it: one transmission carries one event (migration 0025). */
  transmissionId: text('transmission_id'),
  outcome: text('outcome').notNull(),
  receivedAt: at('received_at').notNull(),
}, (t) => [primaryKey({ columns: [t.provider, t.eventId] })]);

/**
 * A provider subscription's state held back (migration 0035, held-states.ts): it would take
 * a served tenant away from what serves it before anything pays for it. `state` is the
 * ProviderState, its instants as ISO strings.
 */
export const providerHeldStates = pgTable('provider_held_states', {
  tenantId: text('tenant_id').notNull(),
  provider: text('provider').$type<'stripe' | 'paypal'>().notNull(),
  providerSubscriptionId: text('provider_subscription_id').notNull(),
  state: jsonb('state').$type<Record<string, unknown>>().notNull(),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.provider, t.providerSubscriptionId] })]);
