import { Type } from 'typebox';
import { Nullable } from '../../http/schemas.js';
import type { SubscriptionRow } from './repo.js';
import type { PaymentMethod, SubscriptionStatus } from './tables.js';

/** A subscription as the API shows it (API.md "Subscriptions and payments"). */
export interface Subscription {
  id: string;
  plan: string;
  status: SubscriptionStatus;
  paymentMethod: PaymentMethod | null;
  externalPaymentId: string | null;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  trialEndsAt: string | null;
  pastDueSince: string | null;
  cancelAtPeriodEnd: boolean;
  canceledAt: string | null;
}

export function toSubscription(row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    plan: row.plan,
    status: row.status,
    paymentMethod: row.paymentMethod ?? null,
    externalPaymentId: row.externalPaymentId ?? null,
    currentPeriodStart: row.currentPeriodStart.toISOString(),
    currentPeriodEnd: row.currentPeriodEnd.toISOString(),
    trialEndsAt: row.trialEndsAt?.toISOString() ?? null,
    pastDueSince: row.pastDueSince?.toISOString() ?? null,
    cancelAtPeriodEnd: row.cancelAtPeriodEnd,
    canceledAt: row.canceledAt?.toISOString() ?? null,
  };
}

export const SubscriptionStatusSchema = Type.Union([
  Type.Literal('trialing'), Type.Literal('active'), Type.Literal('past_due'), Type.Literal('pending_payment'),
  Type.Literal('canceled'), Type.Literal('suspended'),
]);
export const PaymentMethodSchema = Type.Union([Type.Literal('stripe'), Type.Literal('paypal'), Type.Literal('bank_transfer')]);

export const SubscriptionSchema = Type.Object({
  id: Type.String(), plan: Type.String(), status: SubscriptionStatusSchema,
  paymentMethod: Nullable(PaymentMethodSchema), externalPaymentId: Nullable(Type.String()),
  currentPeriodStart: Type.String(), currentPeriodEnd: Type.String(),
  trialEndsAt: Nullable(Type.String()), pastDueSince: Nullable(Type.String()),
  cancelAtPeriodEnd: Type.Boolean({ description: 'canceled when the current period (or the trial) ends, unless resumed before' }),
  canceledAt: Nullable(Type.String()),
});
