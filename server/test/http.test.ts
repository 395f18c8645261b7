import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../src/app.js';
import { ERROR_CATALOG } from '../src/error-catalog.js';
import { startTestApp, type TestApp } from './harness.js';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('service endpoints', () => {
  it('/healthz answers ok once migrations ran', async () => {
    const res = await t.request({ method: 'GET', url: '/healthz' });
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/metrics serves Prometheus text with request counters', async () => {
    await t.request({ method: 'GET', url: '/v1/plans' });
    const res = await t.request({ method: 'GET', url: '/metrics' });
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toMatch(/tollgate_http_requests_total\{method="GET",route="\/v1\/plans",status="200"\} \d+/);
  });

  it('every response carries x-request-id; a sane client id is echoed, a hostile one replaced', async () => {
    const echoed = await t.request({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'client-abc.123' } });
    expect(echoed.headers['x-request-id']).toBe('client-abc.123');
    const replaced = await t.request({ method: 'GET', url: '/v1/nope', headers: { 'x-request-id': 'bad id\twith "stuff"' } });
    expect(replaced.headers['x-request-id']).toMatch(/^req_/);
    expect(replaced.json().error.requestId).toBe(replaced.headers['x-request-id']);
  });
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists every route of the route table with its schemas', async () => {
    const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const route of routeTable(t.app)) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      expect(doc.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path}`).toBeDefined();
    }
    expect(doc.paths['/v1/signup'].post.requestBody.content['application/json'].schema.required).toEqual(['email', 'password']);
  });

  it('has a docs page at /docs', async () => {
    const res = await t.request({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
  });
});

describe('the error catalog', () => {
  it('is closed: UPPER_SNAKE codes with 4xx/5xx statuses and a message each', () => {
    for (const [code, spec] of Object.entries(ERROR_CATALOG)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.status).toBeLessThan(600);
      expect(spec.message.length).toBeGreaterThan(0);
    }
  });
});

describe('the OpenAPI document', () => {
  it('spells every error code of the catalog as an enum of the one error body', async () => {
    const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
    const body = doc.components.schemas.ErrorBody;
    expect(body.properties.error.properties.code.enum).toEqual(Object.keys(ERROR_CATALOG));
    expect(doc.paths['/v1/authorize'].post.responses['401'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ErrorBody' });
  });
});

describe('docs/errors.md', () => {
  it('lists every code of the catalog with its status, and no other', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const listed = Object.fromEntries([...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
    expect(listed).toEqual(Object.fromEntries(Object.entries(ERROR_CATALOG).map(([code, spec]) => [code, spec.status])));
  });
});
