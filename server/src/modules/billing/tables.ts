import { pgTable, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'pending_payment' | 'canceled' | 'suspended';

export const subscriptions = pgTable('subscriptions', {
  tenantId: text('tenant_id').primaryKey(),
  id: text('id').notNull(),
  plan: text('plan').notNull(),
  status: text('status').$type<SubscriptionStatus>().notNull(),
  currentPeriodStart: at('current_period_start').notNull(),
  currentPeriodEnd: at('current_period_end').notNull(),
  trialEndsAt: at('trial_ends_at'),
  pastDueSince: at('past_due_since'),
  paymentMethod: text('payment_method').$type<'stripe' | 'paypal' | 'bank_transfer'>(),
  externalPaymentId: text('external_payment_id'),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
});
