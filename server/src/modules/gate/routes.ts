import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Db } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import { principalOf, tenantHeaderOf } from '../../http/guards.js';
import { errors, Nullable, TenantParams } from '../../http/schemas.js';
import { keysetPage } from '../../lib/cursor.js';
import * as repo from './repo.js';
import { rateLimitHeaders } from '../ratelimit/index.js';
import { AuthorizeBody, DecisionSchema } from './schemas.js';
import type { DecisionService } from './service.js';


export interface GateRouteOptions {
  gate: DecisionService;
  db: Db;
}

export const gateRoutes: FastifyPluginAsyncTypebox<GateRouteOptions> = async (app, { gate, db }) => {
  app.post('/v1/authorize', {
    config: { rateLimit: 'none' },
    schema: {
      tags: ['decision'],
      summary: 'May this principal of this tenant run this operation now, and what does it cost? Denials are 200 with allowed: false.',
      body: AuthorizeBody,
      response: { 200: DecisionSchema, ...errors(401, 403, 404, 409, 503) },
    },
  }, async (request, reply) => {
    const decision = await gate.authorize(principalOf(request), request.body, { requestId: request.id, tenantHeader: tenantHeaderOf(request) });
    if (decision.rateLimit) {
      reply.headers(rateLimitHeaders({ ...decision.rateLimit, allowed: false, retryAfterMs: decision.retryAfterMs ?? null, degraded: null, scope: null }));
    }
    return decision;
  });

  app.get('/v1/admin/tenants/:tenantId/decisions', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Recent decisions of a tenant, allowed and denied (denials counted per principal, code and minute), newest first',
      params: TenantParams,
      querystring: Type.Object({
        cursor: Type.Optional(Type.String({ maxLength: 200 })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
        allowed: Type.Optional(Type.Boolean()),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          decisions: Type.Array(Type.Object({
            id: Type.String(), allowed: Type.Boolean(), code: Type.String(), operation: Type.String(), module: Nullable(Type.String()),
            model: Nullable(Type.String()), credits: Nullable(Type.Integer()), reservationId: Nullable(Type.String()),
            principal: Type.Object({ type: Type.String(), id: Nullable(Type.String()), userId: Nullable(Type.String()) }),
            bypass: Nullable(Type.Object({ reason: Type.String(), meter: Type.String() })),
            idempotencyKey: Nullable(Type.String()), replayed: Type.Boolean(), requestId: Nullable(Type.String()), createdAt: Type.String(),
            calls: Type.Integer({ minimum: 1, description: 'The calls this entry stands for: 1, or for a denial every denial of its principal, code and minute that one write of the log saw (the entry shows the first)' }),
          })),
          nextCursor: Nullable(Type.String()),
        }),
        ...errors(401, 403, 404),
      },
    },
  }, async (request) => {
    const { tenantId } = request.params;
    const page = await inTenant(db, tenantId, (tx) => keysetPage({ cursor: request.query.cursor, limit: request.query.limit ?? 50 },
      (before, limit) => repo.listLog(tx, { tenantId, allowed: request.query.allowed, before, limit })));
    return {
      decisions: page.items.map((r) => ({
        id: r.id, allowed: r.allowed, code: r.code, operation: r.operation, module: r.module, model: r.model, credits: r.credits,
        reservationId: r.reservationId, principal: { type: r.principalType, id: r.principalId, userId: r.userId }, bypass: r.bypass ?? null,
        idempotencyKey: r.idempotencyKey, replayed: r.replayed, requestId: r.requestId, createdAt: r.createdAt.toISOString(), calls: r.calls,
      })),
      nextCursor: page.nextCursor,
    };
  });
};
