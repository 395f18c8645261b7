import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot, startTestApp, type SignedUp, type TestApp } from './harness.js';

/**
 * Tenant B must not read, change or even detect tenant A's metering objects: every
 * route answers B exactly as it answers for an object that does not exist, and
 * nothing is written. Malformed input is a 4xx catalog code, never a 500.
 */
let t: TestApp;
let a: SignedUp;
let b: SignedUp;
let reservationId: string;
const MISSING_TENANT = 'tnt_00000000000000000000000000';
const MISSING_RESERVATION = 'res_00000000000000000000000000';

beforeAll(async () => {
  t = await startTestApp();
  a = await t.signup();
  b = await t.signup();
  const r = await t.deps.metering.reserve({ tenantId: a.tenantId }, { operation: 'clustering', idempotencyKey: 'a-run' });
  if (!r.ok) throw new Error('reserve failed');
  reservationId = r.value.reservation.id;
});
afterAll(async () => { await t.close(); });

const tenantRoutes = (tenantId: string) => [
  { method: 'GET', url: `/v1/tenants/${tenantId}/usage` },
  { method: 'GET', url: `/v1/tenants/${tenantId}/usage/events` },
  { method: 'GET', url: `/v1/tenants/${tenantId}/credits` },
  { method: 'GET', url: `/v1/tenants/${tenantId}/credits/ledger` },
  { method: 'GET', url: `/v1/tenants/${tenantId}/modules` },
  { method: 'PUT', url: `/v1/tenants/${tenantId}/modules/writer`, payload: { enabled: false } },
] as const;

const reservationRoutes = (id: string) => [
  { method: 'POST', url: `/v1/reservations/${id}/settle`, payload: { credits: 1 } },
  { method: 'POST', url: `/v1/reservations/${id}/release` },
] as const;

describe('cross-tenant isolation of metering routes', () => {
  it('B gets the same 404 on A\'s objects as on missing ones, and nothing changes', async () => {
    const before = await snapshot(t.db);
    const routes = [
      ...tenantRoutes(a.tenantId).map((r, i) => [r, tenantRoutes(MISSING_TENANT)[i]!] as const),
      ...reservationRoutes(reservationId).map((r, i) => [r, reservationRoutes(MISSING_RESERVATION)[i]!] as const),
    ];
    for (const [theirs, missing] of routes) {
      const probe = await t.request({ ...theirs, token: b.accessToken });
      const control = await t.request({ ...missing, token: b.accessToken });
      expect({ url: theirs.url, status: probe.statusCode, code: probe.json().error?.code }).toEqual({ url: theirs.url, status: 404, code: control.json().error.code });
    }
    // Naming A as the tenant in the header changes nothing either.
    for (const route of reservationRoutes(reservationId)) {
      const probe = await t.request({ ...route, token: b.accessToken, headers: { 'tollgate-tenant': a.tenantId } });
      const control = await t.request({ ...route, token: b.accessToken, headers: { 'tollgate-tenant': MISSING_TENANT } });
      expect([probe.statusCode, probe.json().error.code]).toEqual([404, control.json().error.code]);
    }
    expect(await snapshot(t.db)).toEqual(before);
    expect(await t.deps.metering.reservation({ tenantId: a.tenantId }, reservationId)).toMatchObject({ status: 'held' });
  });

  it('the owner reaches the reservation through the credential alone', async () => {
    const res = await t.request({ method: 'POST', url: `/v1/reservations/${reservationId}/release`, token: a.accessToken });
    expect(res.statusCode).toBe(200);
    expect(res.json().reservation.status).toBe('released');
  });
});

describe('malformed input on metering routes', () => {
  it('answers 4xx with a catalog code and writes nothing', async () => {
    const op = await t.operator();
    const before = await snapshot(t.db);
    const cases = [
      { method: 'PUT', url: `/v1/tenants/${a.tenantId}/modules/writer`, token: a.accessToken, payload: { enabled: 'no' } },
      { method: 'PUT', url: `/v1/tenants/${a.tenantId}/modules/writer`, token: a.accessToken, payload: { enabled: false, extra: 1 } },
      { method: 'PUT', url: `/v1/tenants/${a.tenantId}/modules/Writer!`, token: a.accessToken, payload: { enabled: false } },
      { method: 'PUT', url: `/v1/tenants/${a.tenantId}/modules/writer`, token: a.accessToken, payload: 'enabled' },
      { method: 'GET', url: `/v1/tenants/${a.tenantId}/credits/ledger?cursor=garbage`, token: a.accessToken },
      { method: 'GET', url: `/v1/tenants/${a.tenantId}/credits/ledger?limit=0`, token: a.accessToken },
      { method: 'GET', url: `/v1/tenants/not-a-tenant/usage`, token: a.accessToken },
      { method: 'POST', url: '/v1/costs/preview', token: a.accessToken, payload: { operation: 'teleport' } },
      { method: 'POST', url: '/v1/costs/preview', token: a.accessToken, payload: { operation: 'content', quantity: { words: -5 } } },
      { method: 'POST', url: '/v1/costs/preview', token: a.accessToken, payload: { operation: 'content', quantity: { words: '12' } } },
      { method: 'POST', url: '/v1/costs/preview', token: a.accessToken, payload: { operation: 'chat', model: 'mistral/unknown-model-x' } },
      { method: 'POST', url: '/v1/costs/preview', token: a.accessToken, payload: { operation: 'content', quantity: { 'bad key': 1 } } },
      { method: 'POST', url: '/v1/costs/preview', token: a.accessToken, payload: {} },
      { method: 'POST', url: `/v1/reservations/${reservationId}/settle`, token: a.accessToken, payload: { credits: -1 } },
      { method: 'POST', url: `/v1/reservations/${reservationId}/settle`, token: a.accessToken, payload: { credits: 1, surprise: true } },
      { method: 'POST', url: '/v1/reservations/res_lowercase_is_not_an_id/settle', token: a.accessToken, payload: {} },
      { method: 'POST', url: `/v1/reservations/${reservationId}/settle`, token: a.accessToken, headers: { 'tollgate-tenant': 'nope' } },
      { method: 'POST', url: `/v1/admin/tenants/${a.tenantId}/credits`, token: op.accessToken, payload: { amount: 0, reason: 'x', idempotencyKey: 'k' } },
      { method: 'POST', url: `/v1/admin/tenants/${a.tenantId}/credits`, token: op.accessToken, payload: { amount: '5', reason: 'x', idempotencyKey: 'k' } },
      { method: 'POST', url: `/v1/admin/tenants/${a.tenantId}/credits`, token: op.accessToken, payload: { amount: 5, reason: '', idempotencyKey: 'k' } },
      { method: 'POST', url: `/v1/admin/tenants/${a.tenantId}/credits`, token: op.accessToken, payload: { amount: 5, reason: 'x', idempotencyKey: 'has space' } },
      { method: 'POST', url: `/v1/admin/tenants/${a.tenantId}/credits`, token: op.accessToken, payload: { amount: 1e15, reason: 'x', idempotencyKey: 'k' } },
      { method: 'PATCH', url: `/v1/admin/tenants/${a.tenantId}`, token: op.accessToken, payload: { limits: { runs: -3 } } },
      { method: 'PATCH', url: `/v1/admin/tenants/${a.tenantId}`, token: op.accessToken, payload: { limits: [1] } },
      { method: 'PATCH', url: `/v1/admin/tenants/${a.tenantId}`, token: op.accessToken, payload: { limits: { 'runs!': 3 } } },
    ] as const;
    for (const c of cases) {
      const res = await t.request(c as never);
      expect({ url: c.url, payload: 'payload' in c ? c.payload : null, status: res.statusCode >= 400 && res.statusCode < 500 }).toEqual({ url: c.url, payload: 'payload' in c ? c.payload : null, status: true });
      expect(res.json().error.code).toMatch(/^[A-Z_]+$/);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });
});
