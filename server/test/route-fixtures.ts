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
  return { ownerA, memberA, otherMemberA, outsiderB, operator, tenantA, invitationA: { id: invitation.id, token: invitation.token } };
}

/** Who may call a route: the least role that passes. */
export type Need = 'public' | 'user' | 'member' | 'admin' | 'operator';

export interface RouteFixture {
  need: Need;
  /** Path parameters naming tenant A's objects. */
  params?: (w: World) => Record<string, string>;
  /** A valid body, so a refusal is about access, not about the input. */
  body?: (w: World) => Record<string, unknown>;
  /** Not part of the cross-tenant sweep, and why. */
  crossTenantExempt?: string;
}

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
  'GET /v1/admin/tenants': { need: 'operator' },
  'GET /v1/admin/tenants/:tenantId': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'PATCH /v1/admin/tenants/:tenantId': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }), body: () => ({ plan: 'pro' }) },
  'GET /v1/admin/tenants/:tenantId/audit': { need: 'operator', params: (w) => ({ tenantId: w.tenantA }) },
  'PATCH /v1/admin/users/:userId': { need: 'operator', params: (w) => ({ userId: w.memberA.userId }), body: () => ({ status: 'active' }) },
  'POST /v1/admin/signing-keys/rotate': { need: 'operator' },
};

export function fillPath(url: string, params: Record<string, string>): string {
  return url.replace(/:(\w+)/g, (_m, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no fixture value for :${name} in ${url}`);
    return encodeURIComponent(value);
  });
}

const PREFIX_OF_PARAM: Record<string, IdPrefix> = { tenantId: 'tnt', userId: 'usr', invitationId: 'inv', keyId: 'key', reservationId: 'res', id: 'res' };

/** The same parameters naming objects that do not exist (well-formed ids). */
export function missingParams(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).map(([name, value]) => {
    const prefix = PREFIX_OF_PARAM[name] ?? (value.slice(0, 3) as IdPrefix);
    return [name, /^[a-z]{3}_/.test(value) ? newId(prefix) : value];
  }));
}

export function tokenFor(w: World, need: Need): string | undefined {
  switch (need) {
    case 'public': return undefined;
    case 'operator': return w.operator.accessToken;
    default: return w.ownerA.accessToken;
  }
}
