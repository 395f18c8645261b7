import { Type } from 'typebox';
import { Body, Nullable, ShortText } from '../../http/schemas.js';
import { checkedAs } from '../../lib/checked.js';

/** Response schemas of the credits module (the OpenAPI document is built from them). */
export const CreditBalanceSchema = Type.Object({ balance: Type.Integer(), reserved: Type.Integer(), available: Type.Integer() });

export const LedgerEntrySchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([
    Type.Literal('grant'), Type.Literal('reserve'), Type.Literal('settle'), Type.Literal('release'),
    Type.Literal('expire'), Type.Literal('refund'), Type.Literal('adjust'),
  ]),
  amount: Type.Integer({ description: 'change of the balance' }),
  hold: Type.Integer({ description: 'change of the reserved amount' }),
  balanceAfter: Type.Integer(), reservedAfter: Type.Integer(),
  reservationId: Nullable(Type.String()), idempotencyKey: Type.String(),
  reason: Nullable(Type.String()),
  actor: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
  createdAt: Type.String(),
  paymentId: Nullable(Type.String({ description: 'the payment a paid period\'s grant came with, or whose refund (or chargeback) took its credits back' })),
});

export const ReservationSchema = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('held'), Type.Literal('settled'), Type.Literal('released'), Type.Literal('expired')], {
    description: 'held until settled, released, or expired at expiresAt',
  }),
  credits: Type.Integer({ description: 'held' }), charged: Type.Integer(), refunded: Type.Integer(),
  operation: Nullable(Type.String()), model: Nullable(Type.String()),
  expiresAt: Type.String(), createdAt: Type.String(), resolvedAt: Nullable(Type.String()),
});

export const ResolvedSchema = Type.Object({ reservation: ReservationSchema, credits: CreditBalanceSchema, replayed: Type.Boolean() });

/** `{ "words": 1200 }`, `{ "inputTokens": 900, "outputTokens": 300 }`. */
export const QuantitySchema = Type.Record(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$' }), Type.Integer({ minimum: 0, maximum: 1e12 }), { maxProperties: 16, additionalProperties: false });

export const IdempotencyKey = Type.String({ pattern: '^[!-~]{1,200}$', description: 'printable ASCII, 1–200 characters' });

/** Credits a caller names (a settlement's charge, a fixed hold): whole, at most a trillion. */
export const CreditsSchema = Type.Integer({ minimum: 0, maximum: 1e12 });

/** The longest a reservation may hold its credits: a day, as the config's reservationTtlSeconds. */
export const MAX_TTL_SECONDS = 86_400;
export const TtlSeconds = Type.Integer({ minimum: 1, maximum: MAX_TTL_SECONDS });
/** The one rule for a time to live a caller names: a reservation's, a concurrent-run lease's. */
export const checkTtlSeconds = checkedAs(TtlSeconds, 'ttlSeconds');

/**
 * A settlement's actual use (API.md `{quantity?, credits?}`): the settle route's body has
 * these fields, and an in-process settle is checked against them.
 */
export const SettleChargeFields = { quantity: Type.Optional(QuantitySchema), credits: Type.Optional(CreditsSchema) };
export const checkSettleCharge = checkedAs(Body(SettleChargeFields), 'charge');

/** POST /v1/costs/preview's body, and what the in-process preview is checked against. */
export const PreviewBody = Body({ operation: ShortText(64), quantity: Type.Optional(QuantitySchema), model: Type.Optional(ShortText(200)) });
export const checkPreviewRequest = checkedAs(PreviewBody, 'request');

/** The in-process reserve's request (no route takes it): the preview's fields (the operation optional), a fixed amount, a time to live, a key. */
export const checkReserveRequest = checkedAs(Body({
  ...PreviewBody.properties, operation: Type.Optional(PreviewBody.properties.operation),
  credits: Type.Optional(CreditsSchema), ttlSeconds: Type.Optional(TtlSeconds), idempotencyKey: IdempotencyKey,
}), 'request');
