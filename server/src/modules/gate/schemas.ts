import { Type, type Static } from 'typebox';
import { Body, idOf, Nullable, OnBehalfOfSchema } from '../../http/schemas.js';
import { checkedAs } from '../../lib/checked.js';
import { IdempotencyKey, QuantitySchema } from '../credits/index.js';
import { RouteSchema, type Route } from '../routing/index.js';
import { ROLES } from '../tenancy/index.js';

/** The closed set of reasons a decision gives. Malformed calls are errors, not decisions. */
export const DECISION_CODES = [
  'OK', 'TENANT_SUSPENDED', 'TENANT_CLOSED', 'PAYMENT_REQUIRED', 'MODULE_DISABLED', 'NOT_IN_PLAN',
  'RATE_LIMITED', 'LIMIT_EXCEEDED', 'INSUFFICIENT_CREDITS',
] as const;
export type DecisionCode = typeof DECISION_CODES[number];

/** What may refuse a call, in the order the decision asks them. */
export const REFUSING_CHECKS = ['tenant', 'subscription', 'plan', 'module', 'model', 'rate', 'limit', 'credits'] as const;

export const RefusedBySchema = Type.Object({
  check: Type.Enum(REFUSING_CHECKS),
  meter: Type.Optional(Type.String({ description: 'the meter that was full (check "limit"): a meter of the plan, "concurrentRuns", or "key:<keyId>" for a key\'s usage cap (the id of the first key of its rotations)' })),
  module: Type.Optional(Type.String({ description: 'the module outside the plan or switched off' })),
  model: Type.Optional(Type.String({ description: 'the model the plan does not allow' })),
  bucket: Type.Optional(Type.String({ description: 'the rate bucket that was empty' })),
}, { description: 'What refused the call; absent when it was allowed' });

const Role = Type.Enum(ROLES);

export const LimitSchema = Type.Object({
  meter: Type.String(),
  used: Type.Integer({ description: 'what is used in the period, as GET …/usage reports it: after this call when it was admitted' }),
  limit: Nullable(Type.Integer()), remaining: Nullable(Type.Integer()), resetsAt: Nullable(Type.String()),
});


export const DecisionSchema = Type.Object({
  allowed: Type.Boolean(),
  code: Type.Enum(DECISION_CODES),
  decisionId: Type.String(),
  tenant: Type.Object({
    id: Type.String(),
    plan: Nullable(Type.String({ description: 'the tenant\'s plan, a refusal for its standing included (null only in the replay of such a refusal answered by an earlier release)' })),
    enterprise: Type.Boolean({ description: 'false on a refusal for the tenant\'s standing: its overrides are not read for one' }),
  }),
  principal: Type.Object({
    type: Type.Enum(['user', 'api_key', 'service'] as const), id: Type.String(), userId: Nullable(Type.String()), role: Nullable(Role),
  }),
  operation: Type.Object({ name: Type.String(), module: Type.String(), credits: Type.Integer() }),
  limits: Type.Array(LimitSchema),
  credits: Nullable(Type.Object({ balance: Type.Integer(), reserved: Type.Integer(), available: Type.Integer() })),
  reservation: Nullable(Type.Object({ id: Type.String(), credits: Type.Integer(), expiresAt: Type.String() })),
  bypass: Nullable(Type.Object({ reason: Role, meter: Type.String() })),
  route: RouteSchema,
  refusedBy: Type.Optional(RefusedBySchema),
  message: Type.Optional(Type.String({ description: 'a refusal in words, for people (branch on code and refusedBy)' })),
  retryAfterMs: Type.Optional(Type.Integer()),
  rateLimit: Type.Optional(Type.Object({ limit: Type.Integer(), remaining: Type.Integer(), resetMs: Type.Integer() }, {
    description: 'the bucket that refused a RATE_LIMITED call (also sent as RateLimit-* headers)',
  })),
  replayed: Type.Optional(Type.Boolean()),
});

export type Decision = Static<typeof DecisionSchema>;
export type LimitView = Static<typeof LimitSchema>;
export type RefusedBy = Static<typeof RefusedBySchema>;
export type { Route };

export const AuthorizeBody = Body({
  operation: Type.String({ minLength: 1, maxLength: 64 }),
  module: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' })),
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  quantity: Type.Optional(QuantitySchema),
  idempotencyKey: Type.Optional(IdempotencyKey),
  tenantId: Type.Optional(idOf('tnt')),
  onBehalfOf: Type.Optional(OnBehalfOfSchema),
});

export type AuthorizeRequest = Static<typeof AuthorizeBody>;

/** The in-process decision's request (library.ts), checked as the route checks its body. */
export const checkAuthorizeRequest = checkedAs(AuthorizeBody, 'request');

export interface AuthorizeContext {
  requestId?: string | undefined;
  /** The Tollgate-Tenant header, for user credentials. */
  tenantHeader?: string | undefined;
}
