import { Type } from 'typebox';
import { Nullable } from '../../http/schemas.js';


export const ScopeSchema = Type.Union([Type.Literal('authorize'), Type.Literal('read'), Type.Literal('manage'), Type.Literal('credentials')], {
  description: '`authorize`: ask for decisions; `read`: what a member may read; `manage`: what an admin may do (members, keys); `credentials`: the provider credentials of the tenant\'s decisions (POST /v1/routes/credentials)',
});

export const RateLimitSchema = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
}, { additionalProperties: false });

/** Never the key or its hash: only what identifies a key to a person. */
export const ApiKeyViewSchema = Type.Object({
  id: Type.String(), name: Type.String(), prefix: Type.String(), lastFour: Type.String(), scopes: Type.Array(ScopeSchema),
  status: Type.Union([Type.Literal('active'), Type.Literal('rotating'), Type.Literal('expired'), Type.Literal('revoked')]),
  expiresAt: Nullable(Type.String()), revokedAt: Nullable(Type.String()), graceUntil: Nullable(Type.String()),
  rotatedFrom: Nullable(Type.String()), rateLimit: Nullable(RateLimitSchema), usageCap: Nullable(Type.Integer()),
  lastUsedAt: Nullable(Type.String({ description: 'written in batches; may lag a few seconds' })),
  createdBy: Type.String(), createdAt: Type.String(),
});

export const ServiceKeyViewSchema = Type.Object({
  id: Type.String(), name: Type.String(), prefix: Type.String(), lastFour: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
  revokedAt: Nullable(Type.String()), lastUsedAt: Nullable(Type.String()), createdBy: Type.String(), createdAt: Type.String(),
});

export const WithKey = Type.Object({ key: Type.String({ description: 'the key itself, returned this once only' }) });
