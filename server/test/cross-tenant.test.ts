import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../src/app.js';
import { snapshot, startTestApp, type TestApp } from './harness.js';
import { ROUTE_FIXTURES, buildWorld, fillPath, missingParams, type World } from './route-fixtures.js';

let t: TestApp;
let w: World;
beforeAll(async () => {
  t = await startTestApp();
  w = await buildWorld(t);
});
afterAll(async () => { await t.close(); });

const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;

describe('the route table', () => {
  it('every route has a fixture, so no route escapes the generated suites', () => {
    const missing = routeTable(t.app).map(key).filter((k) => !ROUTE_FIXTURES[k]);
    expect(missing).toEqual([]);
  });
});

describe('tenant isolation on every route', () => {
  const tenantRoutes = () => routeTable(t.app).filter((r) => {
    const f = ROUTE_FIXTURES[key(r)];
    return f && !f.crossTenantExempt && f.params && (f.need === 'member' || f.need === 'admin' || f.need === 'owner');
  });

  it('a principal of tenant B gets exactly the 404 of a missing object on tenant A\'s objects, and nothing changes', async () => {
    const routes = tenantRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(8);
    for (const route of routes) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const params = f.params!(w);
      const before = await snapshot(t.db);
      const payload = f.body?.(w);
      const intruder = await t.request({ method: route.method as 'GET', url: fillPath(route.url, params), token: w.outsiderB.accessToken, payload });
      const missing = await t.request({ method: route.method as 'GET', url: fillPath(route.url, missingParams(params)), token: w.outsiderB.accessToken, payload });
      expect(intruder.statusCode, key(route)).toBe(404);
      expect(intruder.json().error.code, key(route)).toBe(missing.json().error.code);
      expect(intruder.json().error.message, key(route)).toBe(missing.json().error.message);
      expect(await snapshot(t.db), key(route)).toEqual(before);
    }
  });

  it('tenant B\'s API key (every scope) gets the same 404 on tenant A\'s objects, and nothing changes', async () => {
    // lastUsedAt is bookkeeping written on a timer; hold it in memory so snapshots compare what matters
    await t.deps.keyUsage.stop();
    const keyB = (await t.request({ method: 'POST', url: `/v1/tenants/${w.outsiderB.tenantId}/api-keys`, token: w.outsiderB.accessToken, payload: { name: 'B', scopes: ['authorize', 'read', 'manage'] } })).json().key as string;
    for (const route of tenantRoutes()) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const params = f.params!(w);
      const before = await snapshot(t.db);
      const payload = f.body?.(w);
      const intruder = await t.request({ method: route.method as 'GET', url: fillPath(route.url, params), token: keyB, payload });
      const missing = await t.request({ method: route.method as 'GET', url: fillPath(route.url, missingParams(params)), token: keyB, payload });
      if (route.url.includes('/invitations') && route.method === 'POST') {
        expect(intruder.statusCode, key(route)).toBe(missing.statusCode); // keys cannot invite at all
        continue;
      }
      expect(intruder.statusCode, key(route)).toBe(404);
      expect(intruder.json().error.code, key(route)).toBe(missing.json().error.code);
      expect(await snapshot(t.db), key(route)).toEqual(before);
    }
  });

  it('a service key acting for tenant B (onBehalfOf in the body, or the header) gets the 404 of a missing reservation on tenant A\'s, and nothing changes', async () => {
    const acting = { tenantId: w.outsiderB.tenantId, userId: w.outsiderB.userId };
    const header = { 'tollgate-on-behalf-of': `${acting.tenantId}:${acting.userId}` };
    const closing = routeTable(t.app).filter((r) => r.url === '/v1/reservations/:id' || r.url.startsWith('/v1/reservations/:id/'));
    expect(closing.map(key).sort()).toEqual(['GET /v1/reservations/:id', 'POST /v1/reservations/:id/release', 'POST /v1/reservations/:id/settle']);
    for (const route of closing) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const params = f.params!(w);
      const method = route.method as 'GET' | 'POST';
      // A GET has no body: the header is its one way to name the member.
      const ways = method === 'GET' ? [['header', undefined, header]] as const : [['body', { ...f.body?.(w), onBehalfOf: acting }, {}], ['header', f.body?.(w), header]] as const;
      for (const [how, payload, headers] of ways) {
        const before = await snapshot(t.db);
        const intruder = await t.request({ method, url: fillPath(route.url, params), token: w.serviceKey.key, payload, headers });
        const missing = await t.request({ method, url: fillPath(route.url, missingParams(params)), token: w.serviceKey.key, payload, headers });
        expect([key(route), how, intruder.statusCode], intruder.body).toEqual([key(route), how, 404]);
        expect(intruder.json().error, `${key(route)} ${how}`).toEqual({ ...missing.json().error, requestId: intruder.json().error.requestId });
        expect(await snapshot(t.db), `${key(route)} ${how}`).toEqual(before);
      }
    }
  });

  it('a plain member of tenant A gets 403 on owner/admin routes, and nothing changes', async () => {
    const routes = routeTable(t.app).filter((r) => ['admin', 'owner'].includes(ROUTE_FIXTURES[key(r)]?.need ?? ''));
    expect(routes.length).toBeGreaterThanOrEqual(5);
    for (const route of routes) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const before = await snapshot(t.db);
      const res = await t.request({ method: route.method as 'GET', url: fillPath(route.url, f.params!(w)), token: w.memberA.accessToken, payload: f.body?.(w) });
      expect(res.statusCode, key(route)).toBe(403);
      expect(await snapshot(t.db), key(route)).toEqual(before);
    }
  });

  it('a tenant owner who is not an operator gets 403 on every operator route, and nothing changes', async () => {
    const routes = routeTable(t.app).filter((r) => ROUTE_FIXTURES[key(r)]?.need === 'operator');
    for (const route of routes) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const before = await snapshot(t.db);
      const res = await t.request({ method: route.method as 'GET', url: fillPath(route.url, f.params?.(w) ?? {}), token: w.ownerA.accessToken, payload: f.body?.(w) });
      expect(res.statusCode, key(route)).toBe(403);
      expect(await snapshot(t.db), key(route)).toEqual(before);
    }
  });

  it('every non-public route answers 401 without a credential', async () => {
    for (const route of routeTable(t.app).filter((r) => !r.public)) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const res = await t.request({ method: route.method as 'GET', url: fillPath(route.url, f.params?.(w) ?? {}), payload: f.body?.(w) });
      expect(res.statusCode, key(route)).toBe(401);
      expect(res.json().error.code).toBe('UNAUTHENTICATED');
    }
  });
});
