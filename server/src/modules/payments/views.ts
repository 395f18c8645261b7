import { Type } from 'typebox';
import { Nullable } from '../../http/schemas.js';
import { PaymentMethodSchema, SubscriptionSchema, type PaymentMethod } from '../billing/index.js';
import type { PaymentRow } from './repo.js';
import type { PaymentStatus } from './tables.js';

export interface PaymentView {
  id: string; method: PaymentMethod; externalPaymentId: string | null; reference: string | null;
  amount: number; currency: string; status: PaymentStatus; plan: string; periods: number;
  periodStart: string | null; periodEnd: string | null; payerName: string | null; proofUrl: string | null;
  reason: string | null; createdAt: string; updatedAt: string;
}

export function toPaymentView(row: PaymentRow): PaymentView {
  return {
    id: row.id, method: row.method, externalPaymentId: row.externalPaymentId, reference: row.reference,
    amount: row.amount, currency: row.currency, status: row.status, plan: row.plan, periods: row.periods,
    periodStart: row.periodStart?.toISOString() ?? null, periodEnd: row.periodEnd?.toISOString() ?? null,
    payerName: row.payerName, proofUrl: row.proofUrl, reason: row.reason,
    createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(),
  };
}

export const PaymentSchema = Type.Object({
  id: Type.String(), method: PaymentMethodSchema, externalPaymentId: Nullable(Type.String()),
  reference: Nullable(Type.String({ description: 'what the payer quotes on a bank transfer' })),
  amount: Type.Integer({ description: 'in the currency\'s minor unit' }), currency: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('rejected'), Type.Literal('canceled')]),
  plan: Type.String(), periods: Type.Integer(),
  periodStart: Nullable(Type.String()), periodEnd: Nullable(Type.String({ description: 'the period the payment covers' })),
  payerName: Nullable(Type.String()), proofUrl: Nullable(Type.String()),
  reason: Nullable(Type.String({ description: 'why it was rejected or failed; on a succeeded payment, why it opened no period (`not applied: …`, e.g. short of the plan\'s price)' })),
  createdAt: Type.String(), updatedAt: Type.String(),
});

export const PaymentWithSubscription = Type.Object({ payment: PaymentSchema, subscription: SubscriptionSchema, replayed: Type.Boolean() });
