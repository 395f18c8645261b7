import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Body, errors, idOf, NextCursor, Nullable, PageQuery, TenantParams } from '../../http/schemas.js';
import { accessOf } from '../../http/access-hook.js';
import { ctxOf } from '../../http/guards.js';
import type { Metering } from './service.js';

/** Response schemas of the usage and module routes. */
const ModuleViewSchema = Type.Object({
  module: Type.String(),
  enabled: Type.Boolean({ description: 'whether the tenant may use the module now' }),
  inPlan: Type.Boolean(),
  switchedOff: Type.Boolean({ description: 'an owner/admin switched it off' }),
});

const MeterUsageSchema = Type.Object({
  meter: Type.String(), used: Type.Integer(), limit: Nullable(Type.Integer()), remaining: Nullable(Type.Integer()),
  periodStart: Type.String(), periodEnd: Type.String(), resetsAt: Type.String(),
});

const UsageReportSchema = Type.Object({
  usage: Type.Array(MeterUsageSchema),
  concurrentRuns: Type.Object({ active: Type.Integer(), limit: Nullable(Type.Integer()) }),
  periodStart: Type.String(), periodEnd: Type.String(),
});

const UsageEventSchema = Type.Object({
  id: Type.String(), meter: Type.String(), quantity: Type.Integer(), periodStart: Type.String(), bypass: Type.Boolean(),
  role: Nullable(Type.String()), actor: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
  usedAfter: Type.Integer(), limit: Nullable(Type.Integer()), createdAt: Type.String(),
});

/** A tenant's usage and its module switches. */
export const meteringRoutes: FastifyPluginAsyncTypebox<{ metering: Metering }> = async (app, { metering }) => {
  app.get('/v1/tenants/:tenantId/modules', {
    config: { access: 'member' },
    schema: { tags: ['plans'], summary: 'The tenant\'s modules: in the plan, switched off, enabled', params: TenantParams, response: { 200: Type.Object({ modules: Type.Array(ModuleViewSchema) }), ...errors(401, 403, 404) } },
  }, async (request) => {
    const access = accessOf(request);
    return { modules: await metering.modules(access.tenantId) };
  });

  app.put('/v1/tenants/:tenantId/modules/:module', {
    config: { access: 'admin' },
    schema: {
      tags: ['plans'], summary: 'Switch a module on or off for the tenant (owner/admin)',
      params: Type.Object({ tenantId: idOf('tnt'), module: Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }) }),
      body: Body({ enabled: Type.Boolean() }),
      response: { 200: ModuleViewSchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return metering.setModule(access, request.params.module, request.body.enabled, ctxOf(request));
  });


  app.get('/v1/tenants/:tenantId/usage', {
    config: { access: 'member' },
    schema: {
      tags: ['usage'], summary: 'Usage of every meter in the current period, and concurrent runs',
      params: TenantParams,
      response: {
        200: UsageReportSchema,
        ...errors(401, 403, 404),
      },
    },
  }, async (request) => {
    const access = accessOf(request);
    return metering.usage(access.tenantId);
  });

  app.get('/v1/admin/tenants/:tenantId/usage', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'A tenant\'s usage of every meter in the current period, and concurrent runs (operator)',
      params: TenantParams, response: { 200: UsageReportSchema, ...errors(401, 403, 404) },
    },
  }, async (request) => metering.usage(request.params.tenantId));

  app.get('/v1/tenants/:tenantId/usage/events', {
    config: { access: 'member' },
    schema: {
      tags: ['usage'], summary: 'The usage log, newest first: admitted consumption and every role bypass',
      params: TenantParams, querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: Type.Object({ events: Type.Array(UsageEventSchema), nextCursor: NextCursor }), ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return metering.usageEvents(access.tenantId, request.query);
  });
};
