import { Type } from 'typebox';
import { Nullable } from '../../http/schemas.js';
import { PaymentMethodSchema, SubscriptionSchema, type PaymentMethod } from '../billing/index.js';
import type { PaymentRow } from './repo.js';
import type { PaymentDispute, PaymentStatus } from './tables.js';

export interface PaymentView {
  id: string; method: PaymentMethod; externalPaymentId: string | null; reference: string | null;
  amount: number; currency: string; status: PaymentStatus; plan: string; periods: number;
  periodStart: string | null; periodEnd: string | null; payerName: string | null; proofUrl: string | null;
  reason: string | null; refundedAmount: number; dispute: PaymentDispute | null; createdAt: string; updatedAt: string;
}

export function toPaymentView(row: PaymentRow): PaymentView {
  return {
    id: row.id, method: row.method, externalPaymentId: row.externalPaymentId, reference: row.reference,
    amount: row.amount, currency: row.currency, status: row.status, plan: row.plan, periods: row.periods,
    periodStart: row.periodStart?.toISOString() ?? null, periodEnd: row.periodEnd?.toISOString() ?? null,
    payerName: row.payerName, proofUrl: row.proofUrl, reason: row.reason, refundedAmount: row.refundedAmount, dispute: row.dispute,
    createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(),
  };
}

export const PaymentSchema = Type.Object({
  id: Type.String(), method: PaymentMethodSchema, externalPaymentId: Nullable(Type.String()),
  reference: Nullable(Type.String({ description: 'what the payer quotes on a bank transfer' })),
  amount: Type.Integer({ description: 'in the currency\'s minor unit' }), currency: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('rejected'), Type.Literal('canceled'), Type.Literal('refunded')], { description: '`refunded`: given back in full, reversed (a chargeback) or its dispute lost; its credits taken back' }),
  plan: Type.String(), periods: Type.Integer(),
  periodStart: Nullable(Type.String()), periodEnd: Nullable(Type.String({ description: 'the period the payment covers' })),
  payerName: Nullable(Type.String()), proofUrl: Nullable(Type.String()),
  reason: Nullable(Type.String({ description: 'why it was rejected, failed or refunded; on a succeeded payment, why it opened no period (`not applied: …`, e.g. short of the plan\'s price)' })),
  refundedAmount: Type.Integer({ description: 'what the provider gave back of it so far, in the currency\'s minor unit (a partial refund is recorded only)' }),
  dispute: Nullable(Type.Union([Type.Literal('open'), Type.Literal('won'), Type.Literal('lost')], { description: 'a dispute (chargeback) opened on it, and how it closed' })),
  createdAt: Type.String(), updatedAt: Type.String(),
});

export const PaymentWithSubscription = Type.Object({ payment: PaymentSchema, subscription: SubscriptionSchema, replayed: Type.Boolean() });
