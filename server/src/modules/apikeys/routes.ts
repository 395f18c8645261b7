import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TypeBoxApp } from '../../http/schemas.js';
import { ctxOf } from '../../http/guards.js';
import { Body, ShortText, TenantParams, errors, idOf } from '../../http/schemas.js';
import type { ServiceKeyService } from './service-keys.js';
import type { ApiKeyService } from './service.js';
import { ApiKeyViewSchema, RateLimitSchema, ScopeSchema, ServiceKeyViewSchema, WithKey } from './views.js';
import { accessOf, operatorOf } from '../../http/access-hook.js';

const KeyParams = Type.Object({ tenantId: idOf('tnt'), keyId: idOf('key') });
const MAX_GRACE_SECONDS = 30 * 86_400;

export interface ApiKeyRouteOptions {
  apiKeys: ApiKeyService;
  serviceKeys: ServiceKeyService;
}

export const apiKeyRoutes: FastifyPluginAsyncTypebox<ApiKeyRouteOptions> = async (app, { apiKeys, serviceKeys }) => {
  tenantKeyRoutes(app, apiKeys);
  serviceKeyRoutes(app, serviceKeys);
};

/** A tenant's API keys (owners/admins). */
function tenantKeyRoutes(app: TypeBoxApp, apiKeys: ApiKeyService): void {
  app.post('/v1/tenants/:tenantId/api-keys', {
    config: { access: 'admin' },
    schema: {
      tags: ['credentials'], summary: 'Create an API key (owner/admin); the key is returned this once only',
      params: TenantParams,
      body: Body({
        name: ShortText(100),
        scopes: Type.Optional(Type.Array(ScopeSchema, { minItems: 1, maxItems: 4, uniqueItems: true, description: 'default ["authorize"]' })),
        expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
        rateLimit: Type.Optional(RateLimitSchema),
        usageCap: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000_000 })),
      }),
      response: { 201: Type.Intersect([ApiKeyViewSchema, WithKey]), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    reply.code(201);
    return apiKeys.create(access, request.body, ctxOf(request));
  });

  app.get('/v1/tenants/:tenantId/api-keys', {
    config: { access: 'admin' },
    schema: {
      tags: ['credentials'], summary: 'The tenant\'s API keys: prefix and last four characters, never the key or its hash',
      params: TenantParams, response: { 200: Type.Object({ apiKeys: Type.Array(ApiKeyViewSchema) }), ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return { apiKeys: await apiKeys.list(access.tenantId) };
  });

  app.get('/v1/admin/tenants/:tenantId/api-keys', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'A tenant\'s API keys (operator): prefix and last four characters, never the key or its hash',
      params: TenantParams, response: { 200: Type.Object({ apiKeys: Type.Array(ApiKeyViewSchema) }), ...errors(401, 403, 404) },
    },
  }, async (request) => ({ apiKeys: await apiKeys.list(request.params.tenantId) }));

  app.delete('/v1/tenants/:tenantId/api-keys/:keyId', {
    config: { access: 'admin' },
    schema: {
      tags: ['credentials'], summary: 'Revoke an API key; it is refused from the next request on, in every process',
      params: KeyParams, response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    await apiKeys.revoke(access, request.params.keyId, ctxOf(request));
    return reply.code(204).send(null);
  });

  app.post('/v1/tenants/:tenantId/api-keys/:keyId/rotate', {
    // Without a body: the default grace.
    config: { access: 'admin', optionalBody: true },
    schema: {
      tags: ['credentials'], summary: 'Issue a successor key with the same settings; the old key works until graceSeconds from now',
      params: KeyParams,
      body: Body({ graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_GRACE_SECONDS, description: 'default 3600' })) }),
      response: { 201: Type.Intersect([ApiKeyViewSchema, WithKey]), ...errors(401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    reply.code(201);
    return apiKeys.rotate(access, request.params.keyId, request.body.graceSeconds ?? 3600, ctxOf(request));
  });
}

/** Service keys (operators). */
function serviceKeyRoutes(app: TypeBoxApp, serviceKeys: ServiceKeyService): void {
  app.post('/v1/admin/service-keys', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Create a service key (tgs_…) for backend-to-backend calls on behalf of users; returned this once only',
      body: Body({ name: ShortText(100) }), response: { 201: Type.Intersect([ServiceKeyViewSchema, WithKey]), ...errors(401, 403) },
    },
  }, async (request, reply) => {
    const operatorId = operatorOf(request);
    reply.code(201);
    return serviceKeys.create(operatorId, request.body.name, ctxOf(request));
  });

  app.get('/v1/admin/service-keys', {
    config: { access: 'operator' },
    schema: { tags: ['operator'], summary: 'Service keys (never the key or its hash)', response: { 200: Type.Object({ serviceKeys: Type.Array(ServiceKeyViewSchema) }), ...errors(401, 403) } },
  }, async () => ({ serviceKeys: await serviceKeys.list() }));

  app.delete('/v1/admin/service-keys/:keyId', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Revoke a service key; refused from the next request on',
      params: Type.Object({ keyId: idOf('svc') }), response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    const operatorId = operatorOf(request);
    await serviceKeys.revoke(operatorId, request.params.keyId, ctxOf(request));
    return reply.code(204).send(null);
  });
}
