import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors, NextCursor, Nullable, PageQuery, TenantParams } from '../../http/schemas.js';
import type { Tollgate } from '../../tollgate.js';
import { accessOf } from '../../http/access-hook.js';


const MeterUsageSchema = Type.Object({
  meter: Type.String(), used: Type.Integer(), limit: Nullable(Type.Integer()), remaining: Nullable(Type.Integer()),
  periodStart: Type.String(), periodEnd: Type.String(), resetsAt: Type.String(),
});

const UsageEventSchema = Type.Object({
  id: Type.String(), meter: Type.String(), quantity: Type.Integer(), periodStart: Type.String(), bypass: Type.Boolean(),
  role: Nullable(Type.String()), actor: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
  usedAfter: Type.Integer(), limit: Nullable(Type.Integer()), createdAt: Type.String(),
});

export const limitsRoutes: FastifyPluginAsyncTypebox<{ tollgate: Tollgate }> = async (app, { tollgate }) => {
  app.get('/v1/tenants/:tenantId/usage', {
    config: { access: 'member' },
    schema: {
      tags: ['usage'], summary: 'Usage of every meter in the current period, and concurrent runs',
      params: TenantParams,
      response: {
        200: Type.Object({
          usage: Type.Array(MeterUsageSchema),
          concurrentRuns: Type.Object({ active: Type.Integer(), limit: Nullable(Type.Integer()) }),
          periodStart: Type.String(), periodEnd: Type.String(),
        }),
        ...errors(401, 403, 404),
      },
    },
  }, async (request) => {
    const access = accessOf(request);
    return tollgate.usage(access.tenantId);
  });

  app.get('/v1/tenants/:tenantId/usage/events', {
    config: { access: 'member' },
    schema: {
      tags: ['usage'], summary: 'The usage log, newest first: admitted consumption and every role bypass',
      params: TenantParams, querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: Type.Object({ events: Type.Array(UsageEventSchema), nextCursor: NextCursor }), ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return tollgate.usageEvents(access.tenantId, request.query);
  });
};
