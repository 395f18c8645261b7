import { boolean, pgTable, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'pending_payment' | 'canceled' | 'suspended';
export type PaymentMethod = 'stripe' | 'paypal' | 'bank_transfer';

export const SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = ['trialing', 'active', 'past_due', 'pending_payment', 'canceled', 'suspended'];
export const PAYMENT_METHODS: readonly PaymentMethod[] = ['stripe', 'paypal', 'bank_transfer'];

export const subscriptions = pgTable('subscriptions', {
  tenantId: text('tenant_id').primaryKey(),
  id: text('id').notNull(),
  plan: text('plan').notNull(),
  status: text('status').$type<SubscriptionStatus>().notNull(),
  currentPeriodStart: at('current_period_start').notNull(),
  currentPeriodEnd: at('current_period_end').notNull(),
  trialEndsAt: at('trial_ends_at'),
  pastDueSince: at('past_due_since'),
  paymentMethod: text('payment_method').$type<PaymentMethod>(),
  /** The external id of the latest payment that landed. */
  externalPaymentId: text('external_payment_id'),
  cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
  canceledAt: at('canceled_at'),
  /** The status a cancellation ended: resuming restores it, and only it. */
  canceledFrom: text('canceled_from').$type<Exclude<SubscriptionStatus, 'canceled'>>(),
  /** Stripe's sub_… or PayPal's I-… for a subscription the provider keeps. */
  providerSubscriptionId: text('provider_subscription_id'),
  providerCustomerId: text('provider_customer_id'),
  /** The provider's own time of the newest state applied: older events change nothing. */
  providerUpdatedAt: at('provider_updated_at'),
  /** The end of the provider's period in the newest state applied; set, the current period is the provider's, and a state or payment of one begun before it is older. */
  providerPeriodEnd: at('provider_period_end'),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
});
