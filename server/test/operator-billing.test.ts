import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setSubscription } from './billing.js';
import { createTeam, startTestApp, type SignedUp, type TestApp } from './harness.js';

/** The operator's billing views (the tenant isolation seed's admin endpoints) and the tenant's own. */
let t: TestApp;
let op: SignedUp;
beforeAll(async () => {
  t = await startTestApp();
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

describe('the operator\'s views', () => {
  it('a tenant\'s users with role, status and last sign-in', async () => {
    const owner = await t.signup();
    const admin = await t.signup();
    const member = await t.signup();
    const tenantId = await createTeam(t, owner, [[admin, 'admin'], [member, 'member']]);
    t.clock.advance(60_000);
    await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: admin.email, password: admin.password } });
    await t.request({ method: 'PATCH', url: `/v1/admin/users/${member.userId}`, token: op.accessToken, payload: { status: 'deactivated' } });
    const res = await t.request({ method: 'GET', url: `/v1/admin/tenants/${tenantId}/users`, token: op.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    const users = res.json().users as { id: string; email: string; role: string; status: string; lastSignInAt: string | null }[];
    const byId = new Map(users.map((u) => [u.id, u]));
    expect([owner, admin, member].map((u) => { const v = byId.get(u.userId)!; return [v.email, v.role, v.status]; })).toEqual([
      [owner.email, 'owner', 'active'], [admin.email, 'admin', 'active'], [member.email, 'member', 'deactivated'],
    ]);
    // The admin signed in again a minute after signing up; the others last at signup.
    expect(byId.get(admin.userId)!.lastSignInAt).toBe(t.clock.now().toISOString());
    expect(Date.parse(byId.get(owner.userId)!.lastSignInAt!)).toBe(t.clock.now().getTime() - 60_000);
    const missing = await t.request({ method: 'GET', url: '/v1/admin/tenants/tnt_00000000000000000000000000/users', token: op.accessToken });
    expect([missing.statusCode, missing.json().error.code]).toEqual([404, 'TENANT_NOT_FOUND']);
  });

  it('tenants filtered by subscription status and payment method', async () => {
    const pending = await t.signup();
    const paid = await t.signup();
    const suspended = await t.signup();
    const plain = await t.signup();
    await t.request({ method: 'POST', url: `/v1/tenants/${pending.tenantId}/subscription/bank-transfer`, token: pending.accessToken, payload: { plan: 'pro' } });
    const confirmed = await t.request({
      method: 'POST', url: `/v1/admin/tenants/${paid.tenantId}/payments/bank-transfer`, token: op.accessToken,
      payload: { externalPaymentId: `BANK-FILTER-${paid.tenantId}`, amount: 4900, currency: 'EUR', payerName: 'Paid Ltd', plan: 'pro' },
    });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    await setSubscription(t, suspended.tenantId, { status: 'suspended', payment_method: 'stripe' });
    const search = async (query: string) => {
      const res = await t.request({ method: 'GET', url: `/v1/admin/tenants?${query}&limit=200`, token: op.accessToken });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json().tenants as { id: string }[]).map((x) => x.id);
    };
    expect(await search('subscriptionStatus=pending_payment')).toEqual([pending.tenantId]);
    // The method a subscription is paid by: a transfer only asked for does not make it one yet.
    expect(await search('paymentMethod=bank_transfer')).toEqual([paid.tenantId]);
    expect(await search('subscriptionStatus=suspended&paymentMethod=stripe')).toEqual([suspended.tenantId]);
    expect(await search('subscriptionStatus=suspended&paymentMethod=bank_transfer')).toEqual([]);
    expect(await search('subscriptionStatus=active')).toContain(plain.tenantId);
    expect(await search('subscriptionStatus=active')).not.toContain(pending.tenantId);
    for (const bad of ['subscriptionStatus=deleted', 'paymentMethod=cash']) {
      const res = await t.request({ method: 'GET', url: `/v1/admin/tenants?${bad}`, token: op.accessToken });
      expect([bad, res.statusCode, res.json().error.code]).toEqual([bad, 400, 'VALIDATION_FAILED']);
    }
  });

  it('a tenant\'s payments, newest first, paginated', async () => {
    const owner = await t.signup();
    for (const plan of ['pro', 'enterprise', 'pro']) {
      t.clock.advance(1);
      await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/bank-transfer`, token: owner.accessToken, payload: { plan } });
    }
    const first = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/payments?limit=2`, token: op.accessToken })).json();
    expect(first.payments.map((p: { plan: string; status: string }) => [p.plan, p.status])).toEqual([['pro', 'pending'], ['enterprise', 'canceled']]);
    const rest = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/payments?limit=2&cursor=${first.nextCursor}`, token: op.accessToken })).json();
    expect(rest).toMatchObject({ payments: [{ plan: 'pro', status: 'canceled' }], nextCursor: null });
  });
  it('a tenant\'s credits, ledger, usage and API keys as its own routes show them — also while the tenant\'s own are refused for payment', async () => {
    const owner = await t.signup();
    const tenant = (path: string) => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}${path}`, token: owner.accessToken });
    const admin = (path: string) => t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}${path}`, token: op.accessToken });
    const created = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'backend' } });
    t.clock.advance(1000); // the grant newer than the signup's: the ledger is newest first
    const granted = await t.request({
      method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/credits`, token: op.accessToken, payload: { amount: 40, reason: 'welcome', idempotencyKey: 'op-view-1' },
    });
    expect([created.statusCode, granted.statusCode]).toEqual([201, 200]);

    for (const path of ['/credits', '/credits/ledger', '/usage', '/api-keys']) {
      const [own, seen] = [await tenant(path), await admin(path)];
      expect([own.statusCode, seen.statusCode], `${path}: ${seen.body}`).toEqual([200, 200]);
      expect(seen.json(), path).toEqual(own.json());
    }
    expect((await admin('/api-keys')).body).not.toContain(created.json().key);
    const page = await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/credits/ledger?limit=1`, token: op.accessToken });
    expect(page.json().entries).toEqual([expect.objectContaining({ amount: 40, reason: 'welcome' })]);
    expect(page.json().nextCursor).toEqual(expect.any(String));

    // Awaiting a bank transfer, the tenant's own reads are refused; an operator still sees it all.
    await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/bank-transfer`, token: owner.accessToken, payload: { plan: 'pro' } });
    expect((await tenant('/credits')).json().error.code).toBe('PAYMENT_REQUIRED');
    for (const path of ['/credits', '/credits/ledger', '/usage', '/api-keys']) expect((await admin(path)).statusCode, path).toBe(200);
    // And they are the operator's: the owner is refused them.
    const refused = await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/credits`, token: owner.accessToken });
    expect(refused.statusCode).toBe(403);
  });
});

describe('the tenant\'s own billing: its subscription for every member, its payments for its owner and admins', () => {
  it('owner and admin read the subscription and the payments, a member the subscription only; while payment is due too', async () => {
    const owner = await t.signup();
    const admin = await t.signup();
    const member = await t.signup();
    const tenantId = await createTeam(t, owner, [[admin, 'admin'], [member, 'member']]);
    await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/subscription/bank-transfer`, token: admin.accessToken, payload: { plan: 'pro' } });
    for (const [user, payments] of [[owner, 200], [admin, 200], [member, 403]] as const) {
      for (const [url, status] of [[`/v1/tenants/${tenantId}/subscription`, 200], [`/v1/tenants/${tenantId}/payments`, payments]] as const) {
        expect([url, (await t.request({ method: 'GET', url, token: user.accessToken })).statusCode]).toEqual([url, status]);
      }
    }
    // The member sees what is due, as the owner does.
    const due = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/subscription`, token: member.accessToken })).json();
    expect(due).toMatchObject({ status: 'pending_payment', plan: 'pro' });
    // Other routes of the unpaid tenant answer 402.
    const other = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/members`, token: owner.accessToken });
    expect([other.statusCode, other.json().error.code]).toEqual([402, 'PAYMENT_REQUIRED']);
  });
});
