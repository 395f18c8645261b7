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
    case 'string': case 'date-time': return [12345, true, null, ['a'], { a: 1 }];
    case 'integer': case 'number': return ['12', true, null, [1], 1.5e308 * 10, 'NaN'];
    case 'boolean': return ['true', 1, null, {}];
    case 'object': return ['x', 1, [], null];
    case 'array': return ['x', 1, {}, null];
    default: return [];
  }
}

interface Attempt { label: string; payload?: string; contentType?: string }

/** Text no field may take: too long for any, not storable, not Unicode (JSON.stringify escapes the surrogates, as a client would). */
const BAD_TEXT = {
  huge: 'a'.repeat(20_000),
  'with a NUL byte': 'a\u0000b',
  'with a lone high surrogate': 'openai/x\ud800',
  'with a lone low surrogate': '\udc00tail',
  'with a reversed surrogate pair': '\ude00\ud83d',
};
/** The same, as query-string values (a client percent-encodes; an encoded surrogate is not UTF-8). */
const BAD_QUERY_TEXT = ['a'.repeat(5_000), 'a%00b', '%ED%A0%80', '%ED%B0%80x', '%E0%A4%A', '%FF'];

/**
 * Values of a named query parameter that pass its schema and its parsing but name what
 * no query can take: cursors that decode to a year 0, a six-digit year, an id with a NUL,
 * an empty, overlong or non-text id; days the date format takes and timestamptz does
 * not, given alone or making the range's other end fall there, as dates or date-times
 * (a usage range takes either), and date-times RFC 3339 spells that are no instant.
 */
const OUT_OF_RANGE: Record<string, string[]> = {
  cursor: [
    ['0000-01-01T00:00:00.000Z', 'x'], ['+275760-09-13T00:00:00.000Z', 'x'], ['-001000-01-01T00:00:00.000Z', 'x'],
    ['2026-01-01T00:00:00.000Z', 'a\u0000b'], ['2026-01-01T00:00:00.000Z', ''], ['2026-01-01T00:00:00.000Z', 'x'.repeat(500)], ['2026-01-01T00:00:00.000Z', 7],
  ].map((position) => Buffer.from(JSON.stringify(position)).toString('base64url')),
  from: ['0000-01-01', '9999-12-31', '9999-12-31T23:59:59Z', ...['2030-06-30T23:59:60Z', '0000-01-01T00:00:00Z'].map(encodeURIComponent)],
  to: ['0000-06-01', '0001-01-05', '9999-12-31', '0001-01-05T12:00:00Z', ...['9999-12-31T23:59:59-23:59', '2030-06-30T23:59:60+01:00'].map(encodeURIComponent)],
};

/**
 * Date-times RFC 3339 spells but no instant JavaScript or PostgreSQL keeps: a leap second
 * (Date.parse gives NaN), a year past 9999 by its offset, the year 0.
 */
const UNREADABLE_INSTANTS = ['2030-06-30T23:59:60Z', '9999-12-31T23:59:59-23:59', '0000-01-01T00:00:00Z'];

function attemptsFor(route: RouteEntry, valid: Record<string, unknown>): Attempt[] {
  const json = (value: unknown) => JSON.stringify(value);
  const attempts: Attempt[] = [
    { label: 'broken JSON', payload: '{"email": "a@b.c", ' },
    { label: 'JSON array', payload: '[]' },
    { label: 'JSON string', payload: '"hello"' },
    { label: 'JSON null', payload: 'null' },
    { label: 'JSON number', payload: '42' },
    { label: 'unknown field', payload: json({ ...valid, isOperator: true }) },
    { label: 'prototype pollution', payload: '{"__proto__": {"isOperator": true}, "constructor": {"prototype": {"x": 1}}}' },
    { label: 'text/plain body', payload: json(valid), contentType: 'text/plain' },
    { label: 'body over the size limit', payload: json({ ...valid, padding: 'x'.repeat(70 * 1024) }) },
    { label: 'a field name with a lone surrogate', payload: json({ ...valid, ['x\ud800']: 1 }) },
  ];
  // An empty body is no body: a request in its own right where the body may be left out.
  if (!route.optionalBody) attempts.push({ label: 'empty body', payload: '' }, { label: 'blank body', payload: ' \r\n\t' });
  if (route.bodyRequired.length > 0) attempts.push({ label: 'missing required fields', payload: '{}' });
  for (const field of route.bodyRequired) {
    const { [field]: _dropped, ...rest } = valid;
    attempts.push({ label: `missing ${field}`, payload: json(rest) });
  }
  for (const [field, type] of Object.entries(route.bodyProperties)) {
    for (const bad of wrongType(type)) attempts.push({ label: `${field} as ${JSON.stringify(bad)}`, payload: json({ ...valid, [field]: bad }) });
    for (const instant of type === 'date-time' ? UNREADABLE_INSTANTS : []) attempts.push({ label: `${field} ${instant}`, payload: json({ ...valid, [field]: instant }) });
    if (type === 'string' || type === 'date-time') {
      for (const [label, text] of Object.entries(BAD_TEXT)) attempts.push({ label: `${field} ${label}`, payload: json({ ...valid, [field]: text }) });
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
    const garbage = ['x', '..%2F..%2Fetc%2Fpasswd', 'tnt_' + 'Z'.repeat(300), "tnt_1' OR '1'='1", '%00', 'tnt_01ARZ3NDEKTSV4RRFFQ69G5FA%', '%ED%A0%80', 'tnt_%F0%9F'];
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
    for (const route of routeTable(t.app).filter((r) => Object.keys(r.queryProperties).length > 0)) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const url = fillPath(route.url, f.params?.(w) ?? {});
      for (const [name, type] of Object.entries(route.queryProperties)) {
        for (const value of type === 'string' ? [...BAD_QUERY_TEXT, ...OUT_OF_RANGE[name] ?? []] : ['%00', '%ED%A0%80', 'x']) {
          const res = await t.request({ method: route.method as 'GET', url: `${url}?${name}=${value}`, token: tokenFor(w, f.need) });
          const where = `${key(route)}?${name}=${value.slice(0, 20)}`;
          expect(res.statusCode, `${where}: ${res.body}`).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, `${where}: ${res.body}`).toBeLessThan(500);
          expect(isErrorCode(res.json().error.code), where).toBe(true);
        }
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

  it('an integer query parameter takes plain decimal digits only: another spelling of a number is VALIDATION_FAILED', async () => {
    const spellings = ['0x10', '0X10', '0b11', '0o7', '%2B3', '+3', '%201', '1%20', '%0A5', '5%0A', '1e1', '1.0', '-0x1', '1_0', 'Infinity', ''];
    const routes = routeTable(t.app).filter((r) => Object.values(r.queryProperties).includes('integer'));
    expect(routes.map(key)).toContain('GET /v1/admin/tenants');
    for (const route of routes) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const url = fillPath(route.url, f.params?.(w) ?? {});
      for (const [name] of Object.entries(route.queryProperties).filter(([, type]) => type === 'integer')) {
        for (const value of spellings) {
          const res = await t.request({ method: route.method as 'GET', url: `${url}?${name}=${value}`, token: tokenFor(w, f.need) });
          expect([key(route), name, value, res.statusCode, res.json().error?.code]).toEqual([key(route), name, value, 400, 'VALIDATION_FAILED']);
        }
      }
    }
    for (const [limit, status] of [['2', 200], ['002', 200], ['-1', 400], ['0', 400]] as const) {
      const res = await t.request({ method: 'GET', url: `/v1/admin/tenants?limit=${limit}`, token: w.operator.accessToken });
      expect([limit, res.statusCode]).toEqual([limit, status]);
      if (status === 200) expect(res.json().tenants).toHaveLength(2);
    }
  });

  it('the cost preview answers a malformed or foreign Tollgate-Tenant header as the decision does, and writes nothing', async () => {
    const payload = { operation: 'content_generation', quantity: { words: 1200 } };
    const ask = (url: string, token: string, tenant?: string) =>
      t.request({ method: 'POST', url, token, payload, headers: tenant === undefined ? {} : { 'tollgate-tenant': tenant } });
    const before = await snapshot(t.db);
    const named = ['x', 'tnt_zzzz', `tnt_${'Z'.repeat(26)}`, `${w.tenantA}x`, w.outsiderB.tenantId];
    for (const [token, tenant] of [...named.map((n) => [w.ownerA.accessToken, n]), [w.apiKeyA.key, w.outsiderB.tenantId], [w.apiKeyA.key, 'x']] as const) {
      const preview = await ask('/v1/costs/preview', token, tenant);
      const decision = await ask('/v1/authorize', token, tenant);
      expect(decision.statusCode, `${tenant}: ${decision.body}`).toBeGreaterThanOrEqual(400);
      expect([tenant, preview.statusCode, preview.json().error?.code]).toEqual([tenant, decision.statusCode, decision.json().error.code]);
    }
    expect(await snapshot(t.db)).toEqual(before);
    expect((await ask('/v1/costs/preview', w.ownerA.accessToken, 'x')).json().error.code).toBe('VALIDATION_FAILED');
    // The caller's own tenant, named or implied, is priced; so is a call whose credential implies none.
    for (const [token, tenant] of [[w.ownerA.accessToken, w.tenantA], [w.ownerA.accessToken, undefined], [w.apiKeyA.key, w.tenantA], [w.serviceKey.key, undefined]] as const) {
      const res = await ask('/v1/costs/preview', token, tenant);
      expect([tenant, res.statusCode, res.json().credits]).toEqual([tenant, 200, 12]);
    }
  });

  it('Authorization, Tollgate-Tenant or Tollgate-On-Behalf-Of twice is 400 BAD_REQUEST on every route, in either order, and writes nothing', async () => {
    const before = await snapshot(t.db);
    for (const route of routeTable(t.app)) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const token = tokenFor(w, f.need) ?? w.ownerA.accessToken;
      const twice: Record<string, [string, string]> = {
        authorization: [`Bearer ${token}`, `Bearer ${w.outsiderB.accessToken}`],
        'tollgate-tenant': [w.tenantA, w.outsiderB.tenantId],
        'tollgate-on-behalf-of': [`${w.tenantA}:${w.ownerA.userId}`, `${w.outsiderB.tenantId}:${w.outsiderB.userId}`],
      };
      for (const [name, [first, second]] of Object.entries(twice)) {
        for (const values of [[first, second], [second, first]]) {
          const res = await t.request({
            method: route.method as 'POST', url: fillPath(route.url, f.params?.(w) ?? {}), payload: f.body?.(w),
            headers: { ...(name === 'authorization' ? {} : { authorization: `Bearer ${token}` }), [name]: values },
          });
          expect([key(route), name, values[0] === first, res.statusCode, res.json().error?.code]).toEqual([key(route), name, values[0] === first, 400, 'BAD_REQUEST']);
        }
      }
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('a route that takes no body refuses one, and other media types, and writes nothing', async () => {
    const routes = routeTable(t.app).filter((r) => r.refusesBody);
    expect(routes.map(key)).toContain('POST /v1/admin/signing-keys/rotate');
    for (const route of routes) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const url = fillPath(route.url, f.params?.(w) ?? {});
      const before = await snapshot(t.db);
      for (const [payload, contentType] of [['{"graceSeconds": 1}', 'application/json'], ['[]', 'application/json'], ['"x"', 'application/json'],
        ['rotate', 'text/plain'], ['a=1', 'application/x-www-form-urlencoded'], ['{}', 'application/octet-stream']] as const) {
        const res = await t.request({ method: route.method as 'POST', url, token: tokenFor(w, f.need), payload, headers: { 'content-type': contentType } });
        const where = `${key(route)} — ${contentType} ${payload}`;
        expect(res.statusCode, `${where}: ${res.body}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, `${where}: ${res.body}`).toBeLessThan(500);
        expect(isErrorCode(res.json().error.code), where).toBe(true);
      }
      expect(await snapshot(t.db), key(route)).toEqual(before);
    }
  });

  it('an empty or blank JSON body is no body: a route that needs one answers as without one, VALIDATION_FAILED, and writes nothing', async () => {
    const routes = routeTable(t.app).filter((r) => r.hasBody && !r.optionalBody);
    const before = await snapshot(t.db);
    for (const route of routes) {
      const f = ROUTE_FIXTURES[key(route)]!;
      const send = (payload?: string) => t.request({
        method: route.method as 'POST', url: fillPath(route.url, f.params?.(w) ?? {}), token: tokenFor(w, f.need), payload,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      });
      const none = await send();
      // The payment providers' webhooks read raw bytes and answer for their signature first.
      expect([key(route), none.statusCode, none.json().error.code]).toEqual([key(route), 400, route.url.startsWith('/v1/webhooks/') ? 'WEBHOOK_SIGNATURE_INVALID' : 'VALIDATION_FAILED']);
      for (const payload of ['', ' ', '\r\n\t ']) {
        const res = await send(payload);
        expect([key(route), JSON.stringify(payload), res.statusCode, res.json().error]).toEqual([key(route), JSON.stringify(payload), 400, { ...none.json().error, requestId: res.headers['x-request-id'] }]);
      }
    }
    // Whatever else is not JSON still is MALFORMED_JSON.
    for (const payload of ['{', ' x', '\u00a0', '{}{}']) {
      const res = await t.request({ method: 'POST', url: '/v1/tenants', token: w.ownerA.accessToken, payload, headers: { 'content-type': 'application/json' } });
      expect([JSON.stringify(payload), res.statusCode, res.json().error.code]).toEqual([JSON.stringify(payload), 400, 'MALFORMED_JSON']);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('a route that takes no body, or may go without one, does what it does without one when the JSON body is empty', async () => {
    const owner = await t.signup();
    const json = { 'content-type': 'application/json' };
    const apiKey = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['read'] } })).json();
    const rotated = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys/${apiKey.id}/rotate`, token: owner.accessToken, payload: '', headers: json });
    expect(rotated.statusCode, rotated.body).toBe(201);
    const revoked = await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${rotated.json().id}`, token: owner.accessToken, payload: ' ', headers: json });
    expect(revoked.statusCode, revoked.body).toBe(204);
    const held = await t.deps.metering.reserve({ tenantId: owner.tenantId, role: 'owner' }, { idempotencyKey: 'empty-body-release', operation: 'clustering' });
    if (!held.ok) throw new Error('no reservation');
    const released = await t.request({ method: 'POST', url: `/v1/reservations/${held.value.reservation.id}/release`, token: owner.accessToken, payload: '', headers: json });
    expect([released.statusCode, released.json().reservation?.status]).toEqual([200, 'released']);
    await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/cancel`, token: owner.accessToken, payload: { atPeriodEnd: true } });
    const resumed = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/resume`, token: owner.accessToken, payload: '', headers: json });
    expect([resumed.statusCode, resumed.json().cancelAtPeriodEnd]).toEqual([200, false]);
    // Last: a canceled tenant's other routes answer PAYMENT_REQUIRED.
    const canceled = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/cancel`, token: owner.accessToken, payload: '\n', headers: json });
    expect([canceled.statusCode, canceled.json().status]).toEqual([200, 'canceled']);
  });

  it('text that is not well-formed is MALFORMED_TEXT, wherever it is', async () => {
    const bodies = [
      { url: '/v1/authorize', payload: '{"operation":"chat","model":"openai/x\\ud800","quantity":{"inputTokens":1}}' },
      { url: '/v1/authorize', payload: '{"operation":"chat","quantity":{"input\\udc00Tokens":1}}' },
      { url: '/v1/tenants', payload: '{"name":"a\\u0000b"}' },
    ];
    for (const { url, payload } of bodies) {
      const res = await t.request({ method: 'POST', url, token: w.ownerA.accessToken, payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().error.code, payload).toBe('MALFORMED_TEXT');
    }
    for (const url of ['/v1/admin/audit?action=a%00b', '/v1/admin/tenants?query=%ED%A0%80', '/v1/admin/tenants/%ED%A0%80']) {
      const res = await t.request({ method: 'GET', url, token: w.operator.accessToken });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.code, url).toBe('MALFORMED_TEXT');
    }
  });

  it('bytes that are not UTF-8 in a JSON body are MALFORMED_TEXT, as their escaped forms are, and write nothing', async () => {
    const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    const bodies = [
      { url: '/v1/tenants', label: 'a Latin-1 é', payload: bytes('{"name":"caf', [0xe9], '"}') },
      { url: '/v1/tenants', label: 'an encoded surrogate (CESU-8)', payload: bytes('{"name":"', [0xed, 0xa0, 0x80], '"}') },
      { url: '/v1/tenants', label: 'an overlong NUL', payload: bytes('{"name":"a', [0xc0, 0x80], 'b"}') },
      { url: '/v1/tenants', label: 'bytes no UTF-8 has', payload: bytes('{"name":"', [0xff, 0xfe], '"}') },
      { url: '/v1/tenants', label: 'a sequence cut short', payload: bytes('{"name":"x', [0xe2, 0x82], '"}') },
      { url: '/v1/tenants', label: 'in a field name', payload: bytes('{"na', [0xe9], 'me":"x"}') },
      { url: '/v1/authorize', label: 'in the decision\'s model', payload: bytes('{"operation":"chat","model":"openai/x', [0xed, 0xa0, 0x80], '","quantity":{"inputTokens":1}}') },
    ];
    const before = await snapshot(t.db);
    for (const { url, label, payload } of bodies) {
      const res = await t.request({ method: 'POST', url, token: w.ownerA.accessToken, payload, headers: { 'content-type': 'application/json' } });
      expect([label, res.statusCode, res.json().error?.code]).toEqual([label, 400, 'MALFORMED_TEXT']);
    }
    expect(await snapshot(t.db)).toEqual(before);
    // UTF-8 itself is read as ever, a byte order mark skipped as before.
    const named = await t.request({ method: 'POST', url: '/v1/tenants', token: w.ownerA.accessToken, payload: bytes('{"name":"caf\u00e9 \u2615 \ud83d\ude00"}'), headers: { 'content-type': 'application/json' } });
    expect([named.statusCode, named.json().name]).toEqual([201, 'caf\u00e9 \u2615 \ud83d\ude00']);
    const marked = await t.request({ method: 'POST', url: '/v1/tenants', token: w.ownerA.accessToken, payload: bytes([0xef, 0xbb, 0xbf], '{"name":"x"}'), headers: { 'content-type': 'application/json' } });
    expect([marked.statusCode, marked.json().name]).toEqual([201, 'x']);
  });

  it('a body with a content coding or a charset other than UTF-8 is 415 UNSUPPORTED_MEDIA_TYPE, and writes nothing', async () => {
    const send = (headers: Record<string, string>, payload: string | Buffer = '{"name":"coded"}') =>
      t.request({ method: 'POST', url: '/v1/tenants', token: w.ownerA.accessToken, payload, headers: { 'content-type': 'application/json', ...headers } });
    const before = await snapshot(t.db);
    const refused: Record<string, string>[] = [
      ...['gzip', 'deflate', 'br', 'compress', 'GZIP', 'identity, gzip', 'x-anything'].map((coding) => ({ 'content-encoding': coding })),
      ...['utf-16', 'UTF-16LE', 'latin1', 'iso-8859-1', 'us-ascii', '"utf-16"', ''].map((charset) => ({ 'content-type': `application/json; charset=${charset}` })),
      { 'content-type': 'application/json;charset=windows-1252' },
    ];
    for (const headers of refused) {
      const res = await send(headers);
      expect([headers, res.statusCode, res.json().error?.code]).toEqual([headers, 415, 'UNSUPPORTED_MEDIA_TYPE']);
    }
    // A real gzip body is the same 415, not MALFORMED_JSON; a Latin-1 one is 415, not MALFORMED_TEXT.
    const { gzipSync } = await import('node:zlib');
    expect((await send({ 'content-encoding': 'gzip' }, gzipSync('{"name":"coded"}'))).json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect((await send({ 'content-type': 'application/json; charset=latin1' }, Buffer.from('{"name":"caf\xe9"}', 'latin1'))).json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await snapshot(t.db)).toEqual(before);
    // identity is no coding; UTF-8 by any of its labels, quoted or not, is UTF-8.
    const accepted: Record<string, string>[] = [{ 'content-encoding': 'identity' }, { 'content-encoding': 'Identity' }, { 'content-type': 'application/json; charset=UTF-8' },
      { 'content-type': 'application/json; charset="utf-8"' }, { 'content-type': 'application/json;charset=utf8' }];
    for (const headers of accepted) {
      const res = await send(headers);
      expect([headers, res.statusCode]).toEqual([headers, 201]);
    }
  });

  it('unknown routes and methods answer 404 with a catalog code', async () => {
    for (const [method, url] of [['GET', '/v1/nope'], ['DELETE', '/v1/plans'], ['PUT', '/v1/me']] as const) {
      const res = await t.request({ method, url, token: w.ownerA.accessToken });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
    }
  });
});
