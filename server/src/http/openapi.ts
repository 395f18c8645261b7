import type { FastifyInstance } from 'fastify';
import { OPERATION_EXAMPLES } from './openapi-examples.js';

/** The document's sections, in reading order: the decision first, then what closes it. */
export const API_TAGS = [
  { name: 'decision', description: 'The decision: ask before every expensive AI run (POST /v1/authorize). Denials are 200 with allowed: false.' },
  { name: 'credits', description: 'Close a decision\'s reservation (settle, release); balances, the ledger, cost previews.' },
  { name: 'auth', description: 'Sign-up, access and refresh tokens, password resets, the signing keys.' },
  { name: 'tenancy', description: 'Users, tenants, members and roles, invitations.' },
  { name: 'credentials', description: 'A tenant\'s API keys.' },
  { name: 'routing', description: 'A tenant\'s own provider accounts (Bedrock roles, provider keys), and short-lived credentials for the route a decision named.' },
  { name: 'plans', description: 'The plan catalog and a tenant\'s module switches.' },
  { name: 'usage', description: 'Meters of the current period, the usage log, daily summaries and exports of the runs\' usage records.' },
  { name: 'billing', description: 'Subscriptions and payments: a tenant\'s subscription, bank transfers, the payment providers\' webhooks.' },
  { name: 'audit', description: 'A tenant\'s audit log.' },
  { name: 'webhooks', description: 'Outbound webhooks: a tenant\'s endpoints for its events (signed per Standard Webhooks), their delivery logs and retries.' },
  { name: 'operator', description: 'Operator routes (a user with the operator flag): tenants, users, service keys, credits, decisions, the platform audit log.' },
  { name: 'meta', description: 'Health.' },
] as const;

/**
 * The operationId of every route (what generated clients name their methods), by
 * "METHOD url" in Fastify's `:param` form. A route may set its own in its schema; a route
 * with neither fails test/openapi.test.ts.
 */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'POST /v1/authorize': 'authorize',
  'GET /v1/reservations/:id': 'getReservation',
  'POST /v1/reservations/:id/settle': 'settleReservation',
  'POST /v1/reservations/:id/release': 'releaseReservation',
  'POST /v1/costs/preview': 'previewCost',
  'GET /v1/tenants/:tenantId/credits': 'getCredits',
  'GET /v1/tenants/:tenantId/credits/ledger': 'listLedgerEntries',
  'POST /v1/signup': 'signup',
  'POST /v1/token': 'createToken',
  'GET /.well-known/jwks.json': 'getJwks',
  'POST /v1/password-reset': 'requestPasswordReset',
  'POST /v1/password-reset/confirm': 'confirmPasswordReset',
  'GET /v1/me': 'getMe',
  'POST /v1/tenants': 'createTenant',
  'GET /v1/tenants/:tenantId': 'getTenant',
  'GET /v1/tenants/:tenantId/members': 'listMembers',
  'PATCH /v1/tenants/:tenantId/members/:userId': 'updateMember',
  'DELETE /v1/tenants/:tenantId/members/:userId': 'removeMember',
  'POST /v1/tenants/:tenantId/invitations': 'createInvitation',
  'GET /v1/tenants/:tenantId/invitations': 'listInvitations',
  'DELETE /v1/tenants/:tenantId/invitations/:invitationId': 'revokeInvitation',
  'POST /v1/invitations/:token/accept': 'acceptInvitation',
  'GET /v1/tenants/:tenantId/routes': 'listRoutes',
  'PUT /v1/tenants/:tenantId/routes/:name': 'putRoute',
  'DELETE /v1/tenants/:tenantId/routes/:name': 'deleteRoute',
  'GET /v1/admin/tenants/:tenantId/routes': 'adminListRoutes',
  'PUT /v1/admin/tenants/:tenantId/routes/:name': 'adminPutRoute',
  'DELETE /v1/admin/tenants/:tenantId/routes/:name': 'adminDeleteRoute',
  'POST /v1/routes/credentials': 'getRouteCredentials',
  'POST /v1/tenants/:tenantId/api-keys': 'createApiKey',
  'GET /v1/tenants/:tenantId/api-keys': 'listApiKeys',
  'DELETE /v1/tenants/:tenantId/api-keys/:keyId': 'revokeApiKey',
  'POST /v1/tenants/:tenantId/api-keys/:keyId/rotate': 'rotateApiKey',
  'GET /v1/plans': 'listPlans',
  'GET /v1/tenants/:tenantId/modules': 'listModules',
  'PUT /v1/tenants/:tenantId/modules/:module': 'setModule',
  'GET /v1/tenants/:tenantId/usage': 'getUsage',
  'GET /v1/tenants/:tenantId/usage/events': 'listUsageEvents',
  'GET /v1/tenants/:tenantId/usage/summary': 'getUsageSummary',
  'GET /v1/tenants/:tenantId/usage/export': 'exportUsage',
  'GET /v1/admin/tenants/:tenantId/usage/summary': 'adminGetUsageSummary',
  'GET /v1/tenants/:tenantId/audit': 'listTenantAudit',
  'GET /v1/admin/tenants': 'adminListTenants',
  'GET /v1/admin/tenants/:tenantId': 'adminGetTenant',
  'PATCH /v1/admin/tenants/:tenantId': 'adminUpdateTenant',
  'PATCH /v1/admin/users/:userId': 'adminUpdateUser',
  'POST /v1/admin/tenants/:tenantId/credits': 'adminGrantCredits',
  'GET /v1/admin/tenants/:tenantId/credits': 'adminGetCredits',
  'GET /v1/admin/tenants/:tenantId/credits/ledger': 'adminListLedger',
  'GET /v1/admin/tenants/:tenantId/usage': 'adminGetUsage',
  'GET /v1/admin/tenants/:tenantId/api-keys': 'adminListApiKeys',
  'GET /v1/admin/tenants/:tenantId/decisions': 'adminListDecisions',
  'GET /v1/admin/tenants/:tenantId/audit': 'adminListTenantAudit',
  'GET /v1/admin/audit': 'adminListAudit',
  'POST /v1/tenants/:tenantId/webhooks': 'createWebhook',
  'GET /v1/tenants/:tenantId/webhooks': 'listWebhooks',
  'DELETE /v1/tenants/:tenantId/webhooks/:id': 'deleteWebhook',
  'POST /v1/tenants/:tenantId/webhooks/:id/enable': 'enableWebhook',
  'POST /v1/tenants/:tenantId/webhooks/:id/rotate-secret': 'rotateWebhookSecret',
  'GET /v1/tenants/:tenantId/webhooks/:id/deliveries': 'listWebhookDeliveries',
  'POST /v1/tenants/:tenantId/webhooks/:id/deliveries/:deliveryId/retry': 'retryWebhookDelivery',
  'POST /v1/admin/webhooks': 'adminCreateWebhook',
  'GET /v1/admin/webhooks': 'adminListWebhooks',
  'DELETE /v1/admin/webhooks/:id': 'adminDeleteWebhook',
  'POST /v1/admin/webhooks/:id/enable': 'adminEnableWebhook',
  'POST /v1/admin/webhooks/:id/rotate-secret': 'adminRotateWebhookSecret',
  'GET /v1/admin/webhooks/:id/deliveries': 'adminListWebhookDeliveries',
  'POST /v1/admin/webhooks/:id/deliveries/:deliveryId/retry': 'adminRetryWebhookDelivery',
  'POST /v1/admin/service-keys': 'adminCreateServiceKey',
  'GET /v1/admin/service-keys': 'adminListServiceKeys',
  'DELETE /v1/admin/service-keys/:keyId': 'adminRevokeServiceKey',
  'POST /v1/admin/signing-keys/rotate': 'adminRotateSigningKey',
  'GET /v1/tenants/:tenantId/subscription': 'getSubscription',
  'POST /v1/tenants/:tenantId/subscription/cancel': 'cancelSubscription',
  'POST /v1/tenants/:tenantId/subscription/resume': 'resumeSubscription',
  'POST /v1/tenants/:tenantId/subscription/bank-transfer': 'requestBankTransfer',
  'GET /v1/tenants/:tenantId/payments': 'listPayments',
  'POST /v1/webhooks/stripe': 'receiveStripeEvent',
  'POST /v1/webhooks/paypal': 'receivePaypalEvent',
  'POST /v1/admin/tenants/:tenantId/trial': 'adminSetTrial',
  'POST /v1/admin/tenants/:tenantId/trial/reset': 'adminResetTrial',
  'GET /v1/admin/tenants/:tenantId/payments': 'adminListPayments',
  'POST /v1/admin/tenants/:tenantId/payments/bank-transfer': 'adminConfirmBankTransfer',
  'POST /v1/admin/tenants/:tenantId/payments/:paymentId/reject': 'adminRejectPayment',
  'GET /v1/admin/tenants/:tenantId/users': 'adminListTenantUsers',
  'GET /healthz': 'health',
};

/** What each answer means, where a route's own schema says nothing. */
const RESPONSE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  200: 'OK', 201: 'Created', 202: 'Accepted (whatever the outcome, so the answer tells nothing)', 204: 'Done; no body',
  400: 'The request is malformed: VALIDATION_FAILED, MALFORMED_JSON, MALFORMED_TEXT, or a code of the route (docs/errors.md)',
  401: 'No valid credential: UNAUTHENTICATED (or INVALID_CREDENTIALS for a sign-in)',
  403: 'The credential may not do this: FORBIDDEN, INSUFFICIENT_SCOPE, TENANT_SUSPENDED, …',
  404: 'Not found, or another tenant\'s (the same answer)',
  409: 'Conflicts with the current state (EMAIL_TAKEN, IDEMPOTENCY_CONFLICT, RESERVATION_RESOLVED, …)',
  415: 'The body is not application/json in UTF-8, sent as is (no Content-Encoding)',
  429: 'RATE_LIMITED; Retry-After says when to try again',
  503: 'DATABASE_UNAVAILABLE, DATABASE_BUSY, RATE_LIMIT_UNAVAILABLE or IDENTITY_PROVIDER_UNAVAILABLE: try again (Retry-After)',
};

type RouteSchema = Record<string, unknown> & { response?: Record<string, Record<string, unknown>> };

/**
 * @fastify/swagger's per-route transform: names every operation, marks public routes as
 * needing no credential, describes every answer, and adds the examples of the main calls.
 * It builds new objects; the schemas the routes validate and serialize with are untouched.
 */
export function describeOperation({ schema, url, route }: { schema: unknown; url: string; route: { method: string | string[]; config?: unknown } }): { schema: RouteSchema; url: string } {
  const key = `${[route.method].flat()[0]} ${url}`;
  const own = (schema ?? {}) as RouteSchema;
  const example = OPERATION_EXAMPLES[key];
  const responses = Object.fromEntries(Object.entries(own.response ?? {}).map(([status, response]) => {
    const described = { ...response, description: response.description ?? example?.responseDescriptions?.[status] ?? RESPONSE_DESCRIPTIONS[status] ?? 'Answer' };
    const shown = example?.responses?.[status];
    return [status, shown === undefined ? described : { ...described, examples: [shown] }];
  }));
  const isPublic = (route.config as { auth?: string } | undefined)?.auth === 'public';
  return {
    url,
    schema: {
      ...own,
      operationId: own.operationId ?? OPERATION_IDS[key],
      ...(isPublic ? { security: [] } : {}),
      ...(own.body && example?.requests ? { body: { ...(own.body as object), examples: example.requests } } : {}),
      response: responses,
    },
  };
}

type Operations = Record<string, Record<string, { requestBody?: { required?: boolean } }>>;

/**
 * @fastify/swagger's whole-document transform: a route whose body may be left out
 * (`config.optionalBody`) says so, where the plugin marks every body it knows required.
 */
export function markOptionalBodies<D extends { paths?: unknown }>(document: D, optional: readonly { method: string; url: string }[]): D {
  const paths = (document.paths ?? {}) as Operations;
  for (const { method, url } of optional) {
    const body = paths[url.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()]?.requestBody;
    if (body) body.required = false;
  }
  return document;
}

/** The OpenAPI document as it is checked in (docs/openapi.json): stable, two-space JSON. */
export function openApiText(app: FastifyInstance): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
