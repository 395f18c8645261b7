import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { sql } from 'drizzle-orm';
import type { Deps } from './deps.js';
import { registerAuthHook } from './http/auth-hook.js';
import { clientErrorHandler, registerProtocolAnswers, requestIdOf } from './http/client-errors.js';
import { registerRouteOf, routeOf } from './http/route-of.js';
import { registerSingleHeaders } from './http/single-headers.js';
import { consoleRoutes } from './http/console.js';
import { frameworkErrorHandler, registerErrorHandling, registerJsonParser } from './http/error-handler.js';
import { tenantHeaderOf } from './http/guards.js';
import { registerMetrics } from './http/metrics.js';
import { registerRateLimitHook } from './http/rate-limit-hook.js';
import { registerAccessHook } from './http/access-hook.js';
import { errorBodySchema, errors } from './http/schemas.js';
import { ERROR_CATALOG } from './error-catalog.js';
import { TtlCache } from './lib/cache.js';
import { lazyChild } from './lib/logger.js';
import type { Logger } from 'pino';
import { AppError } from './lib/errors.js';
import { API_TAGS, describeOperation, markOptionalBodies } from './http/openapi.js';
import { registerTextGuard } from './http/text-guard.js';
import { registerValidation } from './http/validation.js';
import { apiKeyRoutes } from './modules/apikeys/index.js';
import { auditRoutes } from './modules/audit/index.js';
import { gateRoutes } from './modules/gate/index.js';
import { authRoutes } from './modules/auth/index.js';
import { creditsAdminRoutes, creditsRoutes, meteringRoutes } from './modules/metering/index.js';
import { plansRoutes } from './modules/plans/index.js';
import { actorOf, tenancyAdminRoutes, tenancyRoutes } from './modules/tenancy/index.js';
import { billingRoutes } from './modules/billing/index.js';
import { paymentRoutes, webhookRoutes } from './modules/payments/index.js';
import { usageRoutes } from './modules/usage/index.js';
import { webhookEndpointRoutes } from './modules/webhooks/index.js';
import { routingRoutes } from './modules/routing/index.js';

export const BODY_LIMIT_BYTES = 64 * 1024;

export interface RouteEntry {
  method: string;
  url: string;
  public: boolean;
  hasBody: boolean;
  /** A POST, PUT, PATCH or DELETE without a body schema: it refuses any body but an empty one. */
  refusesBody: boolean;
  /** A body schema the request may leave out (`config.optionalBody`): none is `{}`. */
  optionalBody: boolean;
  /** Required top-level body fields, for generated bad-input tests. */
  bodyRequired: string[];
  /** Body properties (of every branch of a union) and their JSON types; "date-time" for a string of that format. */
  bodyProperties: Record<string, string>;
  /** Query-string parameters and their JSON types. */
  queryProperties: Record<string, string>;
}

type ObjectSchema = { required?: string[]; properties?: Record<string, { type?: string; format?: string }>; anyOf?: ObjectSchema[] } | undefined;

/** Property name → JSON type ("date-time" for a string of that format), over an object schema and each branch of a union of them. */
function propertyTypes(schema: ObjectSchema): Record<string, string> {
  const own = Object.entries(schema?.properties ?? {}).map(([k, v]) => [k, v.format === 'date-time' ? 'date-time' : v.type ?? 'any'] as const);
  return Object.assign({}, ...(schema?.anyOf ?? []).map(propertyTypes), Object.fromEntries(own));
}

const CHANGES_STATE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A route that takes no body answers one it does not understand with 400, as a route
 * with a schema does (unknown fields are an error there): an empty JSON object and no
 * body at all are the same request, anything else is refused before the handler runs.
 */
async function refuseBody(request: FastifyRequest): Promise<void> {
  const body = request.body as unknown;
  if (body === undefined || body === null) return;
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
  throw new AppError('VALIDATION_FAILED', 'body: this route takes no body');
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route's body may be left out (every field of it is optional): a request without
     * one, or with an empty one (http/error-handler.ts), is read as `{}`. A JSON null or
     * anything else that is not an object is still refused by the schema.
     */
    optionalBody?: boolean;
  }
}

async function bodyOrEmpty(request: FastifyRequest): Promise<void> {
  if (request.body === undefined) request.body = {};
}

const routeTables = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every API route the app serves; cross-cutting test suites are generated from it. */
export function routeTable(app: FastifyInstance): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

/** Builds the HTTP app over already-wired deps; tests call this and use app.inject(). */
export async function buildApp(deps: Deps): Promise<FastifyInstance> {
  const app = createServer(deps);
  recordRoutes(app);
  registerValidation(app);
  registerJsonParser(app);
  registerTextGuard(app);
  registerErrorHandling(app);
  app.addHook('onRequest', async (request, reply) => { reply.header('x-request-id', request.id); });
  registerProtocolAnswers(app);
  registerSingleHeaders(app);
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: routeOf(request).url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
  });

  await registerDocs(app);
  registerRequestHooks(app, deps);
  registerHealth(app, deps);
  // The console's page and files (docs/console.md): public and hidden, no API routes.
  await app.register(consoleRoutes);
  await registerModules(app, deps);
  await app.ready();
  return app;
}

type App = ReturnType<typeof createServer>;

/**
 * Node's bounds on a request still arriving, headers and body (a slow client, or one that
 * stops sending, holds its connection and its parser). Fastify sets none (its requestTimeout
 * is 0) and Node's requestTimeout alone misses a stalled body while headersTimeout stays
 * above it, so both are the configured one; the check runs a few times within it (Node's
 * default is every 30 s). The 408 is answered by http/client-errors.ts.
 */
function requestTimeouts(seconds: number) {
  const ms = seconds * 1000;
  return { requestTimeout: ms, headersTimeout: ms, connectionsCheckingInterval: Math.min(5000, ms / 4) };
}

function createServer(deps: Deps) {
  const timeouts = requestTimeouts(deps.config.file.http.requestTimeoutSeconds);
  return Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: deps.config.trustProxy,
    requestTimeout: timeouts.requestTimeout,
    // Node answers a request without Host itself, with an empty body: http/client-errors.ts does, in the catalog's.
    http: { requireHostHeader: false, ...timeouts },
    genReqId: requestIdOf,
    clientErrorHandler,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings, options) => lazyChild(logger as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger,
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: frameworkErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

}

/** Keeps the table of API routes the cross-cutting suites are generated from; a route without a body schema refuses a body. */
function recordRoutes(app: App): void {
  const routes: RouteEntry[] = [];
  routeTables.set(app, routes);
  app.addHook('onRoute', (route) => {
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide || route.url.startsWith('/docs');
    const body = route.schema?.body as ObjectSchema;
    const refusesBody = !body && [route.method].flat().some((method) => CHANGES_STATE.has(method));
    const optionalBody = Boolean(body) && route.config?.optionalBody === true;
    if (refusesBody) route.preValidation = [refuseBody, ...[route.preValidation ?? []].flat()];
    if (optionalBody) route.preValidation = [bodyOrEmpty, ...[route.preValidation ?? []].flat()];
    for (const method of [route.method].flat()) {
      if (hidden || method === 'HEAD') continue;
      routes.push({
        method, url: route.url, public: route.config?.auth === 'public', hasBody: Boolean(body), refusesBody, optionalBody,
        bodyRequired: body?.required ?? [],
        bodyProperties: propertyTypes(body),
        queryProperties: propertyTypes(route.schema?.querystring as ObjectSchema),
      });
    }
  });
}

/** The OpenAPI document (/openapi.json) and its viewer (/docs). */
async function registerDocs(app: App): Promise<void> {
  app.addSchema(errorBodySchema(Object.keys(ERROR_CATALOG)));
  await app.register(swagger, {
    // Shared schemas keep their $id as their name in components.schemas (ErrorBody, not def-0).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tollgate', version: '0.1.0', description: 'Control plane for multi-tenant AI SaaS: tenancy, credentials, plans, limits, credits and the decision.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: API_TAGS.map((tag) => ({ ...tag })),
    },
    transform: describeOperation,
    transformObject: (document) => markOptionalBodies('openapiObject' in document ? document.openapiObject : document.swaggerObject, routeTable(app).filter((r) => r.optionalBody)),
  });
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...(route.config ?? {}), auth: 'public' };
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });

  app.get('/openapi.json', { config: { auth: 'public' }, schema: { hide: true } }, async () => app.swagger());
}

/** Credentials, rate limits, metrics and the route-config access rule, on every request. */
function registerRequestHooks(app: App, deps: Deps): void {
  registerRouteOf(app);
  registerAuthHook(app, deps.resolveCredential);
  const { scopes, bypassPrincipals } = deps.config.file.rateLimits;
  registerRateLimitHook(app, deps.rateLimits, scopes, new Set(bypassPrincipals));
  registerMetrics(app, deps.metrics);

  registerAccessHook(app, {
    tenant: (principal, tenantId, need, options) => deps.tenancy.access(principal, tenantId, need, options),
    operator: (principal) => deps.auth.requireOperator(principal),
    tenantExists: (tenantId) => deps.tenancy.assertTenantExists(tenantId),
  });
}

function registerHealth(app: App, deps: Deps): void {
  const databaseAnswers = new TtlCache<'database', true>({ ttlMs: 1000, maxEntries: 1, now: () => deps.clock.now().getTime() });
  app.get('/healthz', {
    config: { auth: 'public' },
    schema: { tags: ['meta'], summary: 'Ready: migrations ran, and the database answers', response: { 200: Type.Object({ status: Type.Literal('ok') }), ...errors() } },
  }, async () => {
    // A load balancer should stop sending calls a process cannot answer, so the database is
    // asked; but this route is public and unthrottled, so at most once a second, and once
    // for every probe arriving while it is asked (a failure is not remembered).
    await databaseAnswers.load('database', async () => {
      await deps.database.db.execute(sql`SELECT 1`);
      return true;
    });
    return { status: 'ok' as const };
  });
}

async function registerModules(app: App, deps: Deps): Promise<void> {
  await app.register(authRoutes, { auth: deps.auth, keys: deps.keys, audit: deps.audit });
  await app.register(tenancyRoutes, { tenancy: deps.tenancy, invitations: deps.invitations });
  await app.register(tenancyAdminRoutes, { admin: deps.tenancyAdmin, tenancy: deps.tenancy });
  await app.register(plansRoutes, { plans: deps.plans });
  await app.register(apiKeyRoutes, { apiKeys: deps.apiKeys, serviceKeys: deps.serviceKeys });
  await app.register(auditRoutes, { db: deps.database.db, audit: deps.audit });
  await app.register(meteringRoutes, { metering: deps.metering });
  await app.register(usageRoutes, { usage: deps.usage });
  await app.register(creditsRoutes, {
    metering: deps.metering,
    implicitAccess: (principal, request) => deps.tenancy.closingAccess(principal, tenantHeaderOf(request)),
    limitClosing: (access) => deps.gate.limitClosing(access),
    routeOf: (tenantId, model) => deps.gate.routeOf(tenantId, model),
  });
  await app.register(gateRoutes, { gate: deps.gate, db: deps.database.db });
  await app.register(creditsAdminRoutes, { metering: deps.metering });
  await app.register(billingRoutes, { subscriptions: deps.subscriptions, actorOf });
  await app.register(paymentRoutes, { payments: deps.payments, transfers: deps.transfers, actorOf });
  await app.register(webhookRoutes, { stripe: deps.stripeWebhooks, paypal: deps.paypalWebhooks });
  await app.register(webhookEndpointRoutes, { webhooks: deps.webhooks, actorOf });
  await app.register(routingRoutes, { routing: deps.routing, credentials: deps.providerCredentials });
}
