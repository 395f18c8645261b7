import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable, type RouteEntry } from '../src/app.js';
import { isErrorCode } from '../src/error-catalog.js';
import { snapshot, startTestApp, type TestApp } from './harness.js';
import { ROUTE_FIXTURES, buildWorld, fillPath, tokenFor, type World } from './route-fixtures.js';

let t: TestApp;
let w: World;
beforeAll(async () => {
  t = await startTestApp();
  w = await buildWorld(t);
});
afterAll(async () => { await t.close(); });

const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;

/** A value of another JSON type than the one the schema wants. */
function wrongType(type: string): unknown[] {
  switch (type) {
    case 'string': return [12345, true, null, ['a'], { a: 1 }];
    case 'integer': case 'number': return ['12', true, null, [1], 1.5e308 * 10, 'NaN'];
    case 'boolean': return ['true', 1, null, {}];
    case 'object': return ['x', 1, [], null];
    case 'array': return ['x', 1, {}, null];
    default: return [];
  }
}

interface Attempt { label: string; payload?: string; contentType?: string }

function attemptsFor(route: RouteEntry, valid: Record<string, unknown>): Attempt[] {
  const json = (value: unknown) => JSON.stringify(value);
  const attempts: Attempt[] = [
    { label: 'broken JSON', payload: '{"email": "a@b.c", ' },
    { label: 'JSON array', payload: '[]' },
    { label: 'JSON string', payload: '"hello"' },
    { label: 'JSON null', payload: 'null' },
    { label: 'JSON number', payload: '42' },
    { label: 'empty body', payload: '' },
    { label: 'unknown field', payload: json({ ...valid, isOperator: true }) },
    { label: 'prototype pollution', payload: '{"__proto__": {"isOperator": true}, "constructor": {"prototype": {"x": 1}}}' },
    { label: 'text/plain body', payload: json(valid), contentType: 'text/plain' },
    { label: 'body over the size limit', payload: json({ ...valid, padding: 'x'.repeat(70 * 1024) }) },
  ];
  if (route.bodyRequired.length > 0) attempts.push({ label: 'missing required fields', payload: '{}' });
  for (const field of route.bodyRequired) {
    const { [field]: _dropped, ...rest } = valid;
    attempts.push({ label: `missing ${field}`, payload: json(rest) });
  }
  for (const [field, type] of Object.entries(route.bodyProperties)) {
    for (const bad of wrongType(type)) attempts.push({ label: `${field} as ${JSON.stringify(bad)}`, payload: json({ ...valid, [field]: bad }) });
    if (type === 'string') {
      attempts.push({ label: `${field} huge`, payload: json({ ...valid, [field]: 'a'.repeat(20_000) }) });
      attempts.push({ label: `${field} with a NUL byte`, payload: json({ ...valid, [field]: 'a\u0000b' }) });
    }
  }
  return attempts;
}

describe('bad input on every route', () => {
  it('every body route answers 4xx with a catalog code, never 500, and writes nothing', async () => {
    const routes = routeTable(t.app).filter((r) => r.hasBody);
    expect(routes.length).toBeGreaterThanOrEqual(9);
    for (const route of routes) {
      const f = ROUTE_FIXTURES[key(route)];
      expect(f?.body, `${key(route)} needs a body fixture`).toBeDefined();
      const valid = f!.body!(w);
      const url = fillPath(route.url, f!.params?.(w) ?? {});
      const before = await snapshot(t.db);
      for (const attempt of attemptsFor(route, valid)) {
        const res = await t.request({
          method: route.method as 'POST', url, token: tokenFor(w, f!.need), payload: attempt.payload,
          headers: { 'content-type': attempt.contentType ?? 'application/json' },
        });
        const where = `${key(route)} — ${attempt.label}`;
        expect(res.statusCode, `${where}: ${res.body}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, `${where}: ${res.body}`).toBeLessThan(500);
        const body = res.json();
        expect(isErrorCode(body.error.code), `${where}: ${body.error.code}`).toBe(true);
        expect(body.error.requestId).toBe(res.headers['x-request-id']);
      }
      expect(await snapshot(t.db), key(route)).toEqual(before);
    }
  });

  it('malformed path parameters and query strings answer 4xx with a catalog code', async () => {
    const garbage = ['x', '..%2F..%2Fetc%2Fpasswd', 'tnt_' + 'Z'.repeat(300), "tnt_1' OR '1'='1", '%00', 'tnt_01ARZ3NDEKTSV4RRFFQ69G5FA%'];
    for (const route of routeTable(t.app).filter((r) => r.url.includes(':'))) {
      const f = ROUTE_FIXTURES[key(route)]!;
      for (const value of garbage) {
        const url = route.url.replace(/:(\w+)/g, value);
        const res = await t.request({ method: route.method as 'GET', url, token: tokenFor(w, f.need), payload: f.body?.(w) });
        expect(res.statusCode, `${key(route)} ${value}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, `${key(route)} ${value}`).toBeLessThan(500);
        expect(isErrorCode(res.json().error.code)).toBe(true);
      }
    }
    for (const url of ['/v1/admin/tenants?limit=abc', '/v1/admin/tenants?limit=100000', '/v1/admin/tenants?status=deleted', '/v1/admin/tenants?unknown=1', '/v1/admin/tenants?cursor=%27']) {
      const res = await t.request({ method: 'GET', url, token: w.operator.accessToken });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_FAILED');
    }
    const cursor = await t.request({ method: 'GET', url: `/v1/tenants/${w.tenantA}/audit?cursor=not-a-cursor`, token: w.ownerA.accessToken });
    expect(cursor.statusCode).toBe(400);
  });

  it('unknown routes and methods answer 404 with a catalog code', async () => {
    for (const [method, url] of [['GET', '/v1/nope'], ['DELETE', '/v1/plans'], ['PUT', '/v1/me']] as const) {
      const res = await t.request({ method, url, token: w.ownerA.accessToken });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
    }
  });
});
