import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { accessOf, operatorOf } from '../../http/access-hook.js';
import { ctxOf, principalOf } from '../../http/guards.js';
import { TenantParams, errors, idOf, type TypeBoxApp } from '../../http/schemas.js';
import { actingFor } from '../apikeys/index.js';
import type { Actor } from '../audit/index.js';
import { actorOf } from '../tenancy/index.js';
import type { ProviderCredentials } from './credentials.js';
import { CredentialsBody, CredentialsSchema, RouteBody, RouteName, RouteViewSchema } from './schemas.js';
import type { RoutingService } from './service.js';

const RouteParams = Type.Object({ tenantId: idOf('tnt'), name: RouteName });
const RoutesList = Type.Object({
  routes: Type.Array(RouteViewSchema),
  externalId: Type.String({ description: 'the tenant\'s external ID, made by the platform: the one its roles\' trust policies name (sts:ExternalId), followed by `:` and the route\'s own where its PUT gave one' }),
});

export interface RoutingRouteOptions {
  routing: RoutingService;
  credentials: ProviderCredentials;
}

export const routingRoutes: FastifyPluginAsyncTypebox<RoutingRouteOptions> = async (app, { routing, credentials }) => {
  manageRoutes(app, routing, '/v1/tenants/:tenantId/routes', 'admin', (request) => actorOf(accessOf(request)));
  manageRoutes(app, routing, '/v1/admin/tenants/:tenantId/routes', 'operator', (request) => ({ type: 'operator', id: operatorOf(request) }));

  app.post('/v1/routes/credentials', {
    schema: {
      tags: ['routing'],
      summary: 'Short-lived credentials for the route an admitted decision named: STS AssumeRole (Bedrock) or the tenant\'s key (service key, or API key with scope credentials)',
      body: CredentialsBody, response: { 200: CredentialsSchema, ...errors(401, 403, 404, 409, 502) },
    },
  }, async (request) => credentials.forDecision(actingFor(principalOf(request), request.body.onBehalfOf), request.body.decisionId, ctxOf(request)));
};

/** A tenant's routes, for its owners and admins (`/v1/tenants/…`) or operators (`/v1/admin/tenants/…`). */
function manageRoutes(app: TypeBoxApp, routing: RoutingService, base: string, access: 'admin' | 'operator', actor: (request: FastifyRequest) => Actor): void {
  const who = access === 'admin' ? 'owner/admin' : 'operator';
  const tags = [access === 'admin' ? 'routing' : 'operator'];
  app.get(base, {
    config: { access },
    schema: {
      tags, summary: `The tenant's provider routes (${who}): never a secret, only its last four characters`,
      params: TenantParams, response: { 200: RoutesList, ...errors(401, 403, 404) },
    },
  }, async (request) => routing.list(request.params.tenantId));

  app.put(`${base}/:name`, {
    config: { access },
    schema: {
      tags, summary: `Create or replace a provider route (${who}), where the plan allows own providers; the secret is sealed at rest`,
      params: RouteParams, body: RouteBody, response: { 200: RouteViewSchema, 201: RouteViewSchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    const { route, created } = await routing.put(request.params.tenantId, request.params.name, request.body, actor(request), ctxOf(request));
    reply.code(created ? 201 : 200);
    return route;
  });

  app.delete(`${base}/:name`, {
    config: { access },
    schema: {
      tags, summary: `Delete a provider route (${who}); credentials cached for it are dropped at once`,
      params: RouteParams, response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    await routing.remove(request.params.tenantId, request.params.name, actor(request), ctxOf(request));
    return reply.code(204).send(null);
  });
}
