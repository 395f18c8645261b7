import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { accessOf, operatorOf } from '../../http/access-hook.js';
import { ctxOf } from '../../http/guards.js';
import { Body, errors, idOf, NextCursor, Nullable, PageQuery, ShortText, TypeBoxApp } from '../../http/schemas.js';
import type { TenantAccess } from '../../lib/principal.js';
import type { Actor } from '../audit/index.js';
import type { Manager, WebhookService } from './service.js';
import { EVENT_TYPES } from './tables.js';

export interface WebhookRouteOptions {
  webhooks: WebhookService;
  /** Who a tenant principal is in the audit log (tenancy's actorOf, wired by the app). */
  actorOf: (access: TenantAccess) => Actor;
}

const DEFAULT_PAGE = 50;

const EventTypeSchema = Type.Enum([...EVENT_TYPES], { description: 'an event type (docs/webhooks.md)' });
const NewEndpointBody = Body({
  url: ShortText(2048),
  events: Type.Array(EventTypeSchema, { minItems: 1, maxItems: EVENT_TYPES.length, uniqueItems: true, description: 'the event types sent to it' }),
  description: Type.Optional(ShortText(200)),
});
const EndpointSchema = Type.Object({
  id: Type.String(),
  tenantId: Nullable(Type.String({ description: 'null for an operator\'s endpoint (every tenant\'s events)' })),
  url: Type.String(),
  events: Type.Array(EventTypeSchema),
  description: Nullable(Type.String()),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
  previousSecretExpiresAt: Nullable(Type.String({ format: 'date-time', description: 'after a secret rotation: until when deliveries are signed with the previous secret too' })),
  failingSince: Nullable(Type.String({ format: 'date-time' })),
  disabledAt: Nullable(Type.String({ format: 'date-time' })),
  disabledReason: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});
const CreatedEndpoint = Type.Intersect([EndpointSchema, Type.Object({ secret: Type.String({ description: 'whsec_…: verify signatures with it; returned this once only' }) })]);
const RotatedEndpoint = Type.Intersect([EndpointSchema, Type.Object({
  secret: Type.String({ description: 'the new whsec_… secret; returned this once only. The previous one signs too until previousSecretExpiresAt' }),
})]);
const DeliverySchema = Type.Object({
  id: Type.String(),
  endpointId: Type.String(),
  eventId: Type.String({ description: 'the webhook-id header of every attempt' }),
  eventType: EventTypeSchema,
  status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Type.String({ format: 'date-time' })),
  lastAttemptAt: Nullable(Type.String({ format: 'date-time' })),
  responseStatus: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});
const EndpointList = Type.Object({ webhooks: Type.Array(EndpointSchema), nextCursor: NextCursor });
const DeliveryList = Type.Object({ deliveries: Type.Array(DeliverySchema), nextCursor: NextCursor });
const Page = Type.Object(PageQuery, { additionalProperties: false });

const TenantParams = Type.Object({ tenantId: idOf('tnt') });
const TenantEndpointParams = Type.Object({ tenantId: idOf('tnt'), id: idOf('whk') });
const TenantDeliveryParams = Type.Object({ tenantId: idOf('tnt'), id: idOf('whk'), deliveryId: idOf('dlv') });
const EndpointParams = Type.Object({ id: idOf('whk') });
const DeliveryParams = Type.Object({ id: idOf('whk'), deliveryId: idOf('dlv') });

export const webhookEndpointRoutes: FastifyPluginAsyncTypebox<WebhookRouteOptions> = async (app, { webhooks, actorOf }) => {
  tenantRoutes(app, webhooks, actorOf);
  operatorRoutes(app, webhooks);
};

/** A tenant's endpoints (owners/admins): its own events. */
function tenantRoutes(app: TypeBoxApp, webhooks: WebhookService, actorOf: (access: TenantAccess) => Actor): void {
  const managerOf = (access: TenantAccess): Manager => ({ tenantId: access.tenantId, actor: actorOf(access) });

  app.post('/v1/tenants/:tenantId/webhooks', {
    config: { access: 'admin' },
    schema: {
      tags: ['webhooks'], summary: 'Create a webhook endpoint for the tenant\'s events (owner/admin); its whsec_ secret is returned this once only',
      params: TenantParams, body: NewEndpointBody, response: { 201: CreatedEndpoint, ...errors(401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    reply.code(201);
    return webhooks.create(managerOf(access), request.body, ctxOf(request));
  });

  app.get('/v1/tenants/:tenantId/webhooks', {
    config: { access: 'admin' },
    schema: {
      tags: ['webhooks'], summary: 'The tenant\'s webhook endpoints, newest first (never their secrets)',
      params: TenantParams, querystring: Page, response: { 200: EndpointList, ...errors(401, 403, 404) },
    },
  }, async (request) => webhooks.list(managerOf(accessOf(request)), { cursor: request.query.cursor, limit: request.query.limit ?? DEFAULT_PAGE }));

  app.delete('/v1/tenants/:tenantId/webhooks/:id', {
    config: { access: 'admin' },
    schema: {
      tags: ['webhooks'], summary: 'Delete a webhook endpoint and its delivery log; nothing more is sent to it',
      params: TenantEndpointParams, response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    await webhooks.remove(managerOf(accessOf(request)), request.params.id, ctxOf(request));
    return reply.code(204).send(null);
  });

  app.post('/v1/tenants/:tenantId/webhooks/:id/enable', {
    config: { access: 'admin' },
    schema: {
      tags: ['webhooks'], summary: 'Enable a disabled webhook endpoint again (same id and secret): events from now on are sent to it; its URL is checked again',
      params: TenantEndpointParams, response: { 200: EndpointSchema, ...errors(400, 401, 403, 404) },
    },
  }, async (request) => webhooks.enable(managerOf(accessOf(request)), request.params.id, ctxOf(request)));

  app.post('/v1/tenants/:tenantId/webhooks/:id/rotate-secret', {
    config: { access: 'admin' },
    schema: {
      tags: ['webhooks'], summary: 'Give a webhook endpoint a new whsec_ secret, returned this once only; the previous one still signs deliveries for webhooks.secretGraceSeconds',
      params: TenantEndpointParams, response: { 200: RotatedEndpoint, ...errors(401, 403, 404) },
    },
  }, async (request) => webhooks.rotateSecret(managerOf(accessOf(request)), request.params.id, ctxOf(request)));

  app.get('/v1/tenants/:tenantId/webhooks/:id/deliveries', {
    config: { access: 'admin' },
    schema: {
      tags: ['webhooks'], summary: 'An endpoint\'s delivery log, newest first: status, attempts, the last response, the next attempt',
      params: TenantEndpointParams, querystring: Page, response: { 200: DeliveryList, ...errors(401, 403, 404) },
    },
  }, async (request) => webhooks.deliveries(managerOf(accessOf(request)), request.params.id,
    { cursor: request.query.cursor, limit: request.query.limit ?? DEFAULT_PAGE }));

  app.post('/v1/tenants/:tenantId/webhooks/:id/deliveries/:deliveryId/retry', {
    config: { access: 'admin' },
    schema: {
      tags: ['webhooks'], summary: 'Send a delivery again now, with the same webhook-id (its attempts are counted afresh)',
      params: TenantDeliveryParams, response: { 202: DeliverySchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    reply.code(202);
    return webhooks.retry(managerOf(accessOf(request)), request.params.id, request.params.deliveryId, ctxOf(request));
  });
}

/** Operators' endpoints: every tenant's events. */
function operatorRoutes(app: TypeBoxApp, webhooks: WebhookService): void {
  const managerOf = (operatorId: string): Manager => ({ tenantId: null, actor: { type: 'operator', id: operatorId } });

  app.post('/v1/admin/webhooks', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Create a webhook endpoint for every tenant\'s events; its whsec_ secret is returned this once only',
      body: NewEndpointBody, response: { 201: CreatedEndpoint, ...errors(401, 403) },
    },
  }, async (request, reply) => {
    reply.code(201);
    return webhooks.create(managerOf(operatorOf(request)), request.body, ctxOf(request));
  });

  app.get('/v1/admin/webhooks', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'The operators\' webhook endpoints, newest first (never their secrets)',
      querystring: Page, response: { 200: EndpointList, ...errors(401, 403) },
    },
  }, async (request) => webhooks.list(managerOf(operatorOf(request)), { cursor: request.query.cursor, limit: request.query.limit ?? DEFAULT_PAGE }));

  app.delete('/v1/admin/webhooks/:id', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Delete an operators\' webhook endpoint and its delivery log',
      params: EndpointParams, response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    await webhooks.remove(managerOf(operatorOf(request)), request.params.id, ctxOf(request));
    return reply.code(204).send(null);
  });

  app.post('/v1/admin/webhooks/:id/enable', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Enable a disabled operators\' webhook endpoint again (same id and secret); its URL is checked again',
      params: EndpointParams, response: { 200: EndpointSchema, ...errors(400, 401, 403, 404) },
    },
  }, async (request) => webhooks.enable(managerOf(operatorOf(request)), request.params.id, ctxOf(request)));

  app.post('/v1/admin/webhooks/:id/rotate-secret', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Give an operators\' webhook endpoint a new whsec_ secret, returned this once only; the previous one still signs for webhooks.secretGraceSeconds',
      params: EndpointParams, response: { 200: RotatedEndpoint, ...errors(401, 403, 404) },
    },
  }, async (request) => webhooks.rotateSecret(managerOf(operatorOf(request)), request.params.id, ctxOf(request)));

  app.get('/v1/admin/webhooks/:id/deliveries', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'An operators\' endpoint\'s delivery log, newest first',
      params: EndpointParams, querystring: Page, response: { 200: DeliveryList, ...errors(401, 403, 404) },
    },
  }, async (request) => webhooks.deliveries(managerOf(operatorOf(request)), request.params.id,
    { cursor: request.query.cursor, limit: request.query.limit ?? DEFAULT_PAGE }));

  app.post('/v1/admin/webhooks/:id/deliveries/:deliveryId/retry', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Send an operators\' endpoint\'s delivery again now, with the same webhook-id',
      params: DeliveryParams, response: { 202: DeliverySchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    reply.code(202);
    return webhooks.retry(managerOf(operatorOf(request)), request.params.id, request.params.deliveryId, ctxOf(request));
  });
}
