import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTeam, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { resolveOnBehalfOf } from './index.js';

let t: TestApp;
let op: SignedUp;
const GRACE_DAYS = 3;
beforeAll(async () => {
  t = await startTestApp({ patch: (file) => { file.billing.pastDueGraceSeconds = GRACE_DAYS * 86_400; } });
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

/** Tests move the clock by days, so the operator signs in afresh each time. */
async function opToken(): Promise<string> {
  return (await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: op.email, password: op.password } })).json().accessToken;
}

const getTenant = (tenantId: string, token: string, headers?: Record<string, string>) =>
  t.request({ method: 'GET', url: `/v1/tenants/${tenantId}`, token, ...(headers ? { headers } : {}) });

async function keyFor(owner: SignedUp, scopes = ['read']): Promise<string> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().key;
}

async function serviceKey(): Promise<{ key: string; id: string }> {
  const res = await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: await opToken(), payload: { name: 'backend' } });
  expect(res.statusCode).toBe(201);
  return res.json();
}

/** What a billing path will do: change the subscription, then tell every process. */
async function setSubscription(tenantId: string, status: string, pastDueDays = 0): Promise<void> {
  const since = new Date(t.clock.now().getTime() - pastDueDays * 86_400_000).toISOString();
  await t.db.asOwner('UPDATE subscriptions SET status = $2, past_due_since = $3 WHERE tenant_id = $1', [tenantId, status, status === 'past_due' ? since : null]);
  await t.deps.changes.publish({ kind: 'tenant', id: tenantId });
}

const setStatus = async (tenantId: string, status: string) =>
  t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: await opToken(), payload: { status } });

describe('one validation path (seed regression: API keys skipped the account and plan checks)', () => {
  const states: { name: string; apply: (tenantId: string) => Promise<unknown>; status: number; code?: string }[] = [
    { name: 'suspended tenant', apply: (id) => setStatus(id, 'suspended'), status: 403, code: 'TENANT_SUSPENDED' },
    { name: 'closed tenant', apply: (id) => setStatus(id, 'closed'), status: 403, code: 'TENANT_CLOSED' },
    { name: 'past_due beyond grace', apply: (id) => setSubscription(id, 'past_due', GRACE_DAYS + 1), status: 402, code: 'PAYMENT_REQUIRED' },
    { name: 'past_due within grace', apply: (id) => setSubscription(id, 'past_due', GRACE_DAYS - 1), status: 200 },
    { name: 'canceled subscription', apply: (id) => setSubscription(id, 'canceled'), status: 402, code: 'PAYMENT_REQUIRED' },
    { name: 'pending_payment subscription', apply: (id) => setSubscription(id, 'pending_payment'), status: 402, code: 'PAYMENT_REQUIRED' },
  ];

  for (const state of states) {
    it(`${state.name}: an API key, a JWT and a service key on behalf of the owner all get ${state.code ?? 'through'}`, async () => {
      const owner = await t.signup();
      const key = await keyFor(owner);
      const service = await serviceKey();
      const onBehalf = { 'tollgate-on-behalf-of': `${owner.tenantId}:${owner.userId}` };
      // warm every cache first: the change must invalidate, not merely expire
      for (const res of [await getTenant(owner.tenantId, key), await getTenant(owner.tenantId, owner.accessToken), await getTenant(owner.tenantId, service.key, onBehalf)]) {
        expect(res.statusCode).toBe(200);
      }
      await state.apply(owner.tenantId);
      for (const res of [await getTenant(owner.tenantId, key), await getTenant(owner.tenantId, owner.accessToken), await getTenant(owner.tenantId, service.key, onBehalf)]) {
        expect(res.statusCode).toBe(state.status);
        if (state.code) expect(res.json().error.code).toBe(state.code);
      }
      const principal = await t.deps.resolveCredential(key);
      const decision = await t.deps.tenancy.checkTenant(principal, owner.tenantId);
      expect(decision).toEqual(state.code ? { ok: false, error: state.code } : expect.objectContaining({ ok: true }));
    });
  }

  it('past_due turns into PAYMENT_REQUIRED when the grace runs out on the clock', async () => {
    const owner = await t.signup();
    const key = await keyFor(owner);
    await setSubscription(owner.tenantId, 'past_due', 0);
    expect((await getTenant(owner.tenantId, key)).statusCode).toBe(200);
    t.clock.advance(GRACE_DAYS * 86_400_000);
    expect((await getTenant(owner.tenantId, key)).json().error.code).toBe('PAYMENT_REQUIRED');
  });

  it('a deactivated user is refused on the next request although the JWT is cached; reactivated, they sign in again', async () => {
    const user = await t.signup();
    expect((await getTenant(user.tenantId, user.accessToken)).statusCode).toBe(200);
    await t.request({ method: 'PATCH', url: `/v1/admin/users/${user.userId}`, token: await opToken(), payload: { status: 'deactivated' } });
    expect((await getTenant(user.tenantId, user.accessToken)).json().error.code).toBe('USER_DEACTIVATED');
    expect((await t.request({ method: 'GET', url: '/v1/me', token: user.accessToken })).statusCode).toBe(403);
    await t.request({ method: 'PATCH', url: `/v1/admin/users/${user.userId}`, token: await opToken(), payload: { status: 'active' } });
    // The deactivation signed them out: the cached token stays refused, a new sign-in works.
    expect((await getTenant(user.tenantId, user.accessToken)).statusCode).toBe(401);
    t.clock.advance(1000);
    const again = (await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } })).json();
    expect((await getTenant(user.tenantId, again.accessToken)).statusCode).toBe(200);
  });

  it('a JWT expires on the clock even while cached', async () => {
    const user = await t.signup();
    expect((await getTenant(user.tenantId, user.accessToken)).statusCode).toBe(200);
    t.clock.advance(t.deps.config.file.auth.accessTokenTtlSeconds * 1000);
    expect((await getTenant(user.tenantId, user.accessToken)).statusCode).toBe(401);
  });
});

describe('acting on behalf of a user', () => {
  it('a service key acts with the member\'s role, read from the database at once', async () => {
    const owner = await t.signup();
    const member = await t.signup();
    const tenantId = await createTeam(t, owner, [[member, 'member']]);
    const { key } = await serviceKey();
    const asMember = { 'tollgate-on-behalf-of': `${tenantId}:${member.userId}` };
    expect((await getTenant(tenantId, key, asMember)).statusCode).toBe(200);
    const mint = () => t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/api-keys`, token: key, headers: asMember, payload: { name: 'x' } });
    expect((await mint()).statusCode).toBe(403);
    await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${member.userId}`, token: owner.accessToken, payload: { role: 'admin' } });
    const minted = await mint();
    expect(minted.statusCode).toBe(201);
    expect(minted.json().createdBy).toMatch(/^svc_/);
    // The audit entry names the member the key acted for, not only the shared key.
    const [entry] = await t.db.asOwner<{ actor_type: string; data: { onBehalfOf?: string } }>(
      `SELECT actor_type, data FROM audit_log WHERE tenant_id = $1 AND action = 'api_key.create' AND target_id = $2`, [tenantId, minted.json().id]);
    expect(entry).toMatchObject({ actor_type: 'service', data: { onBehalfOf: member.userId } });
    await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/members/${member.userId}`, token: owner.accessToken });
    expect((await getTenant(tenantId, key, asMember)).json().error.code).toBe('ON_BEHALF_OF_NOT_MEMBER');
  });

  it('is refused for a user who is not a member, for another tenant than the path, and for a deactivated user', async () => {
    const owner = await t.signup();
    const stranger = await t.signup();
    const { key } = await serviceKey();
    const notMember = await getTenant(owner.tenantId, key, { 'tollgate-on-behalf-of': `${owner.tenantId}:${stranger.userId}` });
    expect(notMember.statusCode).toBe(403);
    expect(notMember.json().error.code).toBe('ON_BEHALF_OF_NOT_MEMBER');
    const unknownUser = await getTenant(owner.tenantId, key, { 'tollgate-on-behalf-of': `${owner.tenantId}:usr_00000000000000000000000000` });
    expect(unknownUser.json().error.code).toBe('ON_BEHALF_OF_NOT_MEMBER');
    const otherTenant = await getTenant(owner.tenantId, key, { 'tollgate-on-behalf-of': `${stranger.tenantId}:${stranger.userId}` });
    expect(otherTenant.json().error.code).toBe('ON_BEHALF_OF_REQUIRED');
    const malformed = await getTenant(owner.tenantId, key, { 'tollgate-on-behalf-of': `${owner.tenantId}` });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('ON_BEHALF_OF_INVALID');
    await t.request({ method: 'PATCH', url: `/v1/admin/users/${owner.userId}`, token: await opToken(), payload: { status: 'deactivated' } });
    expect((await getTenant(owner.tenantId, key, { 'tollgate-on-behalf-of': `${owner.tenantId}:${owner.userId}` })).json().error.code).toBe('USER_DEACTIVATED');
  });

  it('is refused outright for a tenant API key or a JWT (no more trusting X-User-ID)', async () => {
    const owner = await t.signup();
    const victim = await t.signup();
    const apiKey = await keyFor(owner, ['read', 'manage']);
    for (const token of [apiKey, owner.accessToken]) {
      for (const tenantId of [owner.tenantId, victim.tenantId]) {
        const res = await getTenant(tenantId, token, { 'tollgate-on-behalf-of': `${victim.tenantId}:${victim.userId}` });
        expect(res.statusCode).toBe(403);
        expect(res.json().error.code).toBe('ON_BEHALF_OF_FORBIDDEN');
      }
    }
    const principal = await t.deps.resolveCredential(apiKey);
    expect(resolveOnBehalfOf(principal, { tenantId: victim.tenantId, userId: victim.userId })).toEqual({ ok: false, error: 'ON_BEHALF_OF_FORBIDDEN' });
    const service = await t.deps.resolveCredential((await serviceKey()).key);
    const acting = resolveOnBehalfOf(service, { tenantId: owner.tenantId, userId: owner.userId });
    expect(acting.ok).toBe(true);
    if (acting.ok) expect(await t.deps.tenancy.checkTenant(acting.value, owner.tenantId)).toMatchObject({ ok: true, value: { role: 'owner', userId: owner.userId } });
  });
});
