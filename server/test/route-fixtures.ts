import { newId, type IdPrefix } from '../src/lib/ids.js';
import type { SignedUp, TestApp } from './harness.js';

/**
 * A small world of two tenants for route-table-driven suites. Tenant A has an owner,
 * two plain members and open objects; B's owner is the outsider.
 */
export interface World {
  ownerA: SignedUp;
  memberA: SignedUp;
  otherMemberA: SignedUp;
  outsiderB: SignedUp;
  operator: SignedUp;
  tenantA: string;
  invitationA: { id: string; token: string };
  apiKeyA: { id: string; key: string };
  serviceKey: { id: string; key: string };
  reservationA: string;
  /** Tenant A's webhook endpoint and one delivery of it; an operators' endpoint and one delivery of it. */
  webhookA: { id: string; deliveryId: string };
  operatorWebhook: { id: string; deliveryId: string };
}

export async function buildWorld(t: TestApp): Promise<World> {
  const ownerA = await t.signup();
  const memberA = await t.signup();
  const otherMemberA = await t.signup();
  const outsiderB = await t.signup();
  const operator = await t.operator();
  const tenantA = (await t.request({ method: 'POST', url: '/v1/tenants', token: ownerA.accessToken, payload: { name: 'Tenant A' } })).json().id as string;
  for (const member of [memberA, otherMemberA]) {
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantA}/invitations`, token: ownerA.accessToken, payload: { email: member.email, role: 'member' } })).json();
    await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: member.accessToken });
  }
  const invitation = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantA}/invitations`, token: ownerA.accessToken, payload: { email: 'pending@example.com', role: 'member' } })).json();
  const apiKey = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantA}/api-keys`, token: ownerA.accessToken, payload: { name: 'A key', scopes: ['authorize', 'read'] } })).json();
  const serviceKey = (await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: operator.accessToken, payload: { name: 'backend' } })).json();
  const webhookA = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantA}/webhooks`, token: ownerA.accessToken, payload: { url: 'http://127.0.0.1:9/hook', events: ['subscription.updated'] } })).json();
  const operatorWebhook = (await t.request({ method: 'POST', url: '/v1/admin/webhooks', token: operator.accessToken, payload: { url: 'http://127.0.0.1:9/all', events: ['subscription.updated'] } })).json();
  // One event for both endpoints, fanned out (its attempt finds nobody listening on port 9).
  await t.request({ method: 'POST', url: `/v1/tenants/${tenantA}/subscription/cancel`, token: ownerA.accessToken, payload: { atPeriodEnd: true } });
  await t.request({ method: 'POST', url: `/v1/tenants/${tenantA}/subscription/resume`, token: ownerA.accessToken });
  await t.deps.webhookDispatcher.runOnce();
  const deliveryOf = async (url: string) => {
    const found = (await t.request({ method: 'GET', url, token: url.startsWith('/v1/admin') ? operator.accessToken : ownerA.accessToken })).json().deliveries?.[0]?.id;
    if (typeof found !== 'string') throw new Error(`world: no webhook delivery at ${url}`);
    return found;
  };
  const webhooks = {
    webhookA: { id: webhookA.id as string, deliveryId: await deliveryOf(`/v1/tenants/${tenantA}/webhooks/${webhookA.id}/deliveries`) },
    operatorWebhook: { id: operatorWebhook.id as string, deliveryId: await deliveryOf(`/v1/admin/webhooks/${operatorWebhook.id}/deliveries`) },
  };
  const reserved = await t.deps.metering.reserve({ tenantId: tenantA, role: 'owner' }, { idempotencyKey: 'world-reservation', operation: 'clustering' });
  if (!reserved.ok) throw new Error('world: could not reserve credits for tenant A');
  return {
    ...webhooks,
    reservationA: reserved.value.reservation.id,
    ownerA, memberA, otherMemberA, outsiderB, operator, tenantA,
    invitationA: { id: invitation.id, token: invitation.token },
    apiKeyA: { id: apiKey.id, key: apiKey.key },
    serviceKey: { id: serviceKey.id, key: serviceKey.key },
  };
}

/** Who may call a route: the least role that passes. */
export type Need = 'public' | 'user' | 'member' | 'admin' | 'owner' | 'operator';

export interface RouteFixture {
  need: Need;
  /** Path parameters naming tenant A's objects. */
  params?: (w: World) => Record<string, string>;
  /** A valid body, so a refusal is about access, not about the input. */
  body?: (w: World) => Record<string, unknown>;
  /** Not part of the cross-tenant sweep, and why. */
  crossTenantExempt?: string;
}

const FIXTURE_PAYMENT_ID = newId('pay');
const FIXTURE_BEDROCK_ROUTE = {
  provider: 'bedrock', region: 'eu-central-1', roleArn: 'arn:aws:iam::123456789012:role/tollgate-bedrock', externalId: 'fixture-external-id-0001',
  models: ['bedrock/*'],
};

/** Every API route needs an entry here: the generated suites fail on a route without one. */
export const ROUTE_FIXTURES: Record<string, RouteFixture> = {
  'GET /healthz': { need: 'public' },
  'GET /v1/plans': { need: 'public' },
  'GET /.well-known/jwks.json': { need: 'public' },
  'POST /v1/signup': { need: 'public', body: () => ({ email: `fixture-${Math.random().toString(36).slice(2)}@example.com`, password: 'fixture-password' }) },
  'POST /v1/token': { need: 'public', body: (w) => ({ grantType: 'password', email: w.ownerA.email, password: w.ownerA.password }) },
  'POST /v1/password-reset': { need: 'public', body: (w) => ({ email: w.ownerA.email }) },
  'POST /v1/password-reset/confirm': { need: 'public', body: () => ({ token: 'tgp_notatoken', password: 'fixture-password' }) },
  'GET /v1/me': { need: 'user' },
  'POST /v1/tenants': { need: 'user', body: () => ({ name: 'Fixture tenant' }) },
  'POST /v1/invitations/:token/accept': {
    need: 'user', params: (w) => ({ token: w.invitationA.token }),
    crossTenantExempt: 'the token is a bearer secret sent to one email; a holder with another email gets INVITATION_EMAIL_MISMATCH',
  },
  'GET /v1/tenants/:tenantId': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/tenants/:tenantId/members': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'PATCH /v1/tenants/:tenantId/members/:userId': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, userId: w.otherMemberA.userId }), body: () => ({ role: 'admin' }) },
  'DELETE /v1/tenants/:tenantId/members/:userId': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, userId: w.otherMemberA.userId }) },
  'POST /v1/tenants/:tenantId/invitations': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ email: 'invitee@example.com', role: 'member' }) },
  'GET /v1/tenants/:tenantId/invitations': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'DELETE /v1/tenants/:tenantId/invitations/:invitationId': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, invitationId: w.invitationA.id }) },
  'GET /v1/tenants/:tenantId/audit': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'POST /v1/tenants/:tenantId/api-keys': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ name: 'fixture key', scopes: ['read'] }) },
  'GET /v1/tenants/:tenantId/api-keys': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'DELETE /v1/tenants/:tenantId/api-keys/:keyId': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, keyId: w.apiKeyA.id }) },
  'POST /v1/tenants/:tenantId/api-keys/:keyId/rotate': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, keyId: w.apiKeyA.id }), body: () => ({ graceSeconds: 60 }) },
  'POST /v1/tenants/:tenantId/webhooks': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ url: 'http://127.0.0.1:9/fixture', events: ['credits.low'] }) },
  'GET /v1/tenants/:tenantId/webhooks': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'DELETE /v1/tenants/:tenantId/webhooks/:id': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, id: w.webhookA.id }) },
  'POST /v1/tenants/:tenantId/webhooks/:id/enable': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, id: w.webhookA.id }) },
  'POST /v1/tenants/:tenantId/webhooks/:id/rotate-secret': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, id: w.webhookA.id }) },
  'GET /v1/tenants/:tenantId/webhooks/:id/deliveries': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, id: w.webhookA.id }) },
  'POST /v1/tenants/:tenantId/webhooks/:id/deliveries/:deliveryId/retry': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, id: w.webhookA.id, deliveryId: w.webhookA.deliveryId }) },
  'POST /v1/admin/webhooks': { need: 'operator', body: () => ({ url: 'http://127.0.0.1:9/fixture', events: ['tenant.suspended'] }) },
  'GET /v1/admin/webhooks': { need: 'operator' },
  'DELETE /v1/admin/webhooks/:id': { need: 'operator', params: (w) => ({ id: w.operatorWebhook.id }) },
  'POST /v1/admin/webhooks/:id/enable': { need: 'operator', params: (w) => ({ id: w.operatorWebhook.id }) },
  'POST /v1/admin/webhooks/:id/rotate-secret': { need: 'operator', params: (w) => ({ id: w.operatorWebhook.id }) },
  'GET /v1/admin/webhooks/:id/deliveries': { need: 'operator', params: (w) => ({ id: w.operatorWebhook.id }) },
  'POST /v1/admin/webhooks/:id/deliveries/:deliveryId/retry': { need: 'operator', params: (w) => ({ id: w.operatorWebhook.id, deliveryId: w.operatorWebhook.deliveryId }) },
  // Tenant A is on the free plan (no own providers): a valid PUT answers 403 NOT_IN_PLAN; routes.test.ts covers the rest.
  'GET /v1/tenants/:tenantId/routes': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'PUT /v1/tenants/:tenantId/routes/:name': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, name: 'aws-main' }), body: () => FIXTURE_BEDROCK_ROUTE },
  'DELETE /v1/tenants/:tenantId/routes/:name': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, name: 'aws-main' }) },
  'GET /v1/admin/tenants/:tenantId/routes': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'PUT /v1/admin/tenants/:tenantId/routes/:name': { need: 'operator', params: (w) => ({ tenantId: w.tenantA, name: 'aws-main' }), body: () => FIXTURE_BEDROCK_ROUTE },
  'DELETE /v1/admin/tenants/:tenantId/routes/:name': { need: 'operator', params: (w) => ({ tenantId: w.tenantA, name: 'aws-main' }) },
  // For service keys and API keys with the credentials scope; a user gets 403 (routing.test.ts covers the callers it serves).
  'POST /v1/routes/credentials': { need: 'user', body: () => ({ decisionId: newId('dec') }) },
  'POST /v1/admin/service-keys': { need: 'operator', body: () => ({ name: 'fixture service key' }) },
  'GET /v1/admin/service-keys': { need: 'operator' },
  'DELETE /v1/admin/service-keys/:keyId': { need: 'operator', params: (w) => ({ keyId: w.serviceKey.id }) },
  'GET /v1/tenants/:tenantId/modules': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'PUT /v1/tenants/:tenantId/modules/:module': { need: 'admin', params: (w) => ({ tenantId: w.tenantA, module: 'planner' }), body: () => ({ enabled: false }) },
  'GET /v1/tenants/:tenantId/usage': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/tenants/:tenantId/usage/events': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/tenants/:tenantId/usage/summary': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/tenants/:tenantId/usage/export': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/tenants/:tenantId/usage/summary': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/tenants/:tenantId/credits': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/tenants/:tenantId/credits/ledger': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'POST /v1/costs/preview': { need: 'user', body: () => ({ operation: 'content_generation', quantity: { words: 1200 } }) },
  // The tenant of a reservation route is the caller's own (credential, Tollgate-Tenant header or
  // personal tenant): B's owner naming A's reservation must get the 404 of a missing one.
  'GET /v1/reservations/:id': { need: 'member', params: (w) => ({ id: w.reservationA }) },
  'POST /v1/reservations/:id/settle': { need: 'member', params: (w) => ({ id: w.reservationA }), body: () => ({ credits: 1 }) },
  'POST /v1/reservations/:id/release': { need: 'member', params: (w) => ({ id: w.reservationA }), body: () => ({}) },
  'POST /v1/admin/tenants/:tenantId/credits': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ amount: 5, reason: 'fixture', idempotencyKey: 'fixture-grant' }) },
  'POST /v1/authorize': {
    need: 'user', body: () => ({ operation: 'clustering', idempotencyKey: 'fixture-decision' }),
    crossTenantExempt: 'covered by gate.test.ts: a tenantId of another tenant is the 404 of a missing one',
  },
  'GET /v1/admin/tenants/:tenantId/decisions': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/tenants/:tenantId/credits': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/tenants/:tenantId/credits/ledger': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/tenants/:tenantId/usage': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/tenants/:tenantId/api-keys': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/audit': { need: 'operator' },
  'GET /v1/admin/tenants': { need: 'operator' },
  'GET /v1/admin/tenants/:tenantId': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'PATCH /v1/admin/tenants/:tenantId': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ plan: 'pro' }) },
  'GET /v1/admin/tenants/:tenantId/audit': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'PATCH /v1/admin/users/:userId': { need: 'operator', params: (w) => ({ userId: w.memberA.userId }), body: () => ({ status: 'active' }) },
  'POST /v1/admin/signing-keys/rotate': { need: 'operator' },
  'GET /v1/tenants/:tenantId/subscription': { need: 'member', params: (w) => ({ tenantId: w.tenantA }) },
  'POST /v1/tenants/:tenantId/subscription/cancel': { need: 'owner', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ atPeriodEnd: true }) },
  'POST /v1/tenants/:tenantId/subscription/resume': { need: 'owner', params: (w) => ({ tenantId: w.tenantA }) },
  'POST /v1/tenants/:tenantId/subscription/bank-transfer': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ plan: 'pro' }) },
  'GET /v1/tenants/:tenantId/payments': { need: 'admin', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/tenants/:tenantId/payments': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'POST /v1/admin/tenants/:tenantId/payments/bank-transfer': {
    need: 'operator', params: (w) => ({ tenantId: w.tenantA }),
    body: () => ({ externalPaymentId: 'BANK-FIXTURE-1', amount: 4900, currency: 'EUR', payerName: 'Fixture Ltd', plan: 'pro' }),
  },
  // No transfer is awaited in the world (tenant A's routes would answer PAYMENT_REQUIRED): a well-formed id names none.
  'POST /v1/admin/tenants/:tenantId/payments/:paymentId/reject': { need: 'operator', params: (w) => ({ tenantId: w.tenantA, paymentId: FIXTURE_PAYMENT_ID }), body: () => ({ reason: 'fixture' }) },
  'POST /v1/admin/tenants/:tenantId/trial': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ days: 14 }) },
  'POST /v1/admin/tenants/:tenantId/trial/reset': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'GET /v1/admin/tenants/:tenantId/users': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  // The signature is the credential: without a valid one, 400 WEBHOOK_SIGNATURE_INVALID (stripe.test.ts, paypal.test.ts).
  'POST /v1/webhooks/stripe': { need: 'public', body: () => ({ id: 'evt_fixture', object: 'event', type: 'invoice.paid', data: { object: {} } }) },
  'POST /v1/webhooks/paypal': { need: 'public', body: () => ({ id: 'WH-FIXTURE', event_type: 'PAYMENT.SALE.COMPLETED', resource: {} }) },
};

export function fillPath(url: string, params: Record<string, string>): string {
  return url.replace(/:(\w+)/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no fixture value for :${name} in ${url}`);
    return encodeURIComponent(value);
  });
}

/** The same parameters naming objects that do not exist: well-formed ids with the same prefix. */
export function missingParams(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) =>
    [name, /^[a-z]{3}_/.test(value) ? newId(value.slice(0, 3) as IdPrefix) : value]));
}

export function tokenFor(w: World, need: Need): string | undefined {
  switch (need) {
    case 'public': return undefined;
    case 'operator': return w.operator.accessToken;
    default: return w.ownerA.accessToken;
  }
}
