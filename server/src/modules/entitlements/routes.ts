import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ctxOf } from '../../http/guards.js';
import { Body, TenantParams, errors, idOf } from '../../http/schemas.js';
import type { Tollgate } from '../../tollgate.js';
import { accessOf } from '../../http/access-hook.js';

const ModuleViewSchema = Type.Object({
  module: Type.String(),
  enabled: Type.Boolean({ description: 'whether the tenant may use the module now' }),
  inPlan: Type.Boolean(),
  switchedOff: Type.Boolean({ description: 'an owner/admin switched it off' }),
});

export const entitlementsRoutes: FastifyPluginAsyncTypebox<{ tollgate: Tollgate }> = async (app, { tollgate }) => {
  app.get('/v1/tenants/:tenantId/modules', {
    config: { access: 'member' },
    schema: { tags: ['plans'], summary: 'The tenant\'s modules: in the plan, switched off, enabled', params: TenantParams, response: { 200: Type.Object({ modules: Type.Array(ModuleViewSchema) }), ...errors(401, 403, 404) } },
  }, async (request) => {
    const access = accessOf(request);
    return { modules: await tollgate.modules(access.tenantId) };
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
    return tollgate.setModule(access, request.params.module, request.body.enabled, ctxOf(request));
  });
};
