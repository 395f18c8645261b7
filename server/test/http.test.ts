import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../src/app.js';
import { ERROR_CATALOG } from '../src/error-catalog.js';
import { capturedLogger, snapshot, startTestApp, type TestApp } from './harness.js';

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

interface RawAnswer { status: number; headers: Record<string, string>; body: string; ms: number }

/** Listens on a free loopback port (Node's parser sits below inject()); the port. */
async function listening(app: TestApp['app']): Promise<number> {
  if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as { port: number }).port;
}

/**
 * Writes `bytes` as they are on a fresh connection and reads the first answer: complete
 * once its Content-Length is in, or when the server closes. After `giveUpMs` the client
 * closes instead, and whatever came (maybe nothing) is the answer.
 */
function exchange(port: number, bytes: string | Buffer, giveUpMs = 5000, rest?: { afterMs: number; bytes: string }): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const started = Date.now();
    let received = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = (end >= 0 ? text.slice(0, end) : '').split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: end >= 0 ? received.subarray(end + 4).toString('utf8') : '', ms: Date.now() - started });
    };
    const timer = setTimeout(finish, giveUpMs);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      // An interim 100 Continue is not the answer.
      if (received.toString('latin1').startsWith('HTTP/1.1 100 ') && received.includes('\r\n\r\n')) received = received.subarray(received.indexOf('\r\n\r\n') + 4);
      const end = received.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(received.subarray(0, end).toString('latin1'))?.[1];
      if (end >= 0 && length !== undefined && received.length >= end + 4 + Number(length)) finish();
    });
    socket.on('error', () => undefined);
    socket.on('close', finish);
    socket.write(bytes);
    if (rest) setTimeout(() => { if (!done) socket.write(rest.bytes); }, rest.afterMs);
  });
}

/** The answer is the catalog's: the code's status, the one error body, its request id in x-request-id. */
function expectCatalogAnswer(answer: RawAnswer, code: keyof typeof ERROR_CATALOG, label: string): void {
  const where = `${label}: ${answer.status} ${answer.body}`;
  expect(answer.status, where).toBe(ERROR_CATALOG[code].status);
  expect(answer.headers['content-type'], where).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body || '{}') as { error?: { code: string; message: string; requestId: string } };
  expect(body.error?.code, where).toBe(code);
  expect(body.error?.message, where).toEqual(expect.any(String));
  expect(body.error?.requestId, where).toBe(answer.headers['x-request-id']);
}

describe('requests Node refuses below the router (a real listening server)', () => {
  it('answer with the catalog\'s error body and code, and a request id', async () => {
    const port = await listening(t.app);
    const get = (lines: string) => `GET /v1/plans HTTP/1.1\r\nHost: x\r\n${lines}\r\n`;
    const cases: [string, string | Buffer, keyof typeof ERROR_CATALOG][] = [
      ['a header over 16 KiB', get(`X-Big: ${'a'.repeat(20_000)}\r\n`), 'HEADERS_TOO_LARGE'],
      ['a URL over 16 KiB', `GET /v1/plans?${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 'HEADERS_TOO_LARGE'],
      ['a control character in a header', get('X-Request-Id: a\x01b\r\n'), 'BAD_REQUEST'],
      ['a NUL in Authorization', get('Authorization: Bearer a\x00b\r\n'), 'BAD_REQUEST'],
      ['a raw non-ASCII byte in the target', Buffer.concat([Buffer.from('GET /v1/pl'), Buffer.from([0xe9]), Buffer.from('ans HTTP/1.1\r\nHost: x\r\n\r\n')]), 'BAD_REQUEST'],
      ['a space in the target', 'GET /v1/pl ans HTTP/1.1\r\nHost: x\r\n\r\n', 'BAD_REQUEST'],
      ['an unknown method', 'FOO /v1/plans HTTP/1.1\r\nHost: x\r\n\r\n', 'BAD_REQUEST'],
      ['a negative Content-Length', 'POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 'BAD_REQUEST'],
      ['Content-Length with Transfer-Encoding', 'POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'BAD_REQUEST'],
      ['an obs-fold', get('X-A: a\r\n b\r\n'), 'BAD_REQUEST'],
      ['bare line feeds', 'GET /v1/plans HTTP/1.1\nHost: x\n\n', 'BAD_REQUEST'],
      ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'BAD_REQUEST'],
      ['HTTP/1.1 without Host', 'GET /v1/plans HTTP/1.1\r\n\r\n', 'BAD_REQUEST'],
      ['an Expect other than 100-continue', get('Expect: teapot\r\n'), 'EXPECTATION_FAILED'],
      ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'NOT_FOUND'],
    ];
    for (const [label, bytes, code] of cases) expectCatalogAnswer(await exchange(port, bytes), code, label);
    // A sane request id of the client's is kept where Node read the headers.
    const expectation = await exchange(port, get('X-Request-Id: client-417\r\nExpect: teapot\r\n'));
    expect(expectation.headers['x-request-id']).toBe('client-417');
    // HTTP/1.0 needs no Host; 100-continue is met as before, and the request read.
    expect((await exchange(port, 'GET /v1/plans HTTP/1.0\r\n\r\n')).status).toBe(200);
    expectCatalogAnswer(await exchange(port, 'POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n{}'), 'VALIDATION_FAILED', '100-continue');
  });
});

describe('a request that names its caller more than once (a real listening server)', () => {
  it('is 400 BAD_REQUEST in either order, Authorization, Tollgate-Tenant or Tollgate-On-Behalf-Of, before the credential is read, and writes nothing', async () => {
    const port = await listening(t.app);
    const a = await t.signup();
    const b = await t.signup();
    const send = (method: string, url: string, lines: string[], body?: unknown) => {
      const text = body === undefined ? '' : JSON.stringify(body);
      const framing = body === undefined ? [] : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(text)}`];
      return exchange(port, `${method} ${url} HTTP/1.1\r\nHost: x\r\n${[...lines, ...framing].map((line) => `${line}\r\n`).join('')}\r\n${text}`);
    };
    const before = await snapshot(t.db);
    // Node alone would serve each of these as its first credential, tenant or user.
    const twice: [string, string, string[], unknown?][] = [
      ['GET', '/v1/me', [`Authorization: Bearer ${a.accessToken}`, `Authorization: Bearer ${b.accessToken}`]],
      ['GET', '/v1/me', [`authorization: Bearer ${b.accessToken}`, `AUTHORIZATION: Bearer ${a.accessToken}`]],
      ['POST', '/v1/tenants', [`Authorization: Bearer ${a.accessToken}`, `Authorization: Bearer ${b.accessToken}`], { name: 'twice' }],
      ['POST', '/v1/tenants', [`Authorization: Bearer ${b.accessToken}`, `Authorization: Bearer ${a.accessToken}`], { name: 'twice' }],
      ['POST', '/v1/tenants', [`Authorization: Bearer ${a.accessToken}`, `Authorization: Bearer ${a.accessToken}`], { name: 'twice' }],
      ...[[a, b], [b, a]].flatMap(([first, second]) => [
        ['POST', '/v1/costs/preview', [`Authorization: Bearer ${a.accessToken}`, `Tollgate-Tenant: ${first!.tenantId}`, `Tollgate-Tenant: ${second!.tenantId}`], { operation: 'content_generation', quantity: { words: 1 } }],
        ['GET', '/v1/me', [`Authorization: Bearer ${a.accessToken}`, `Tollgate-On-Behalf-Of: ${first!.tenantId}:${first!.userId}`, `Tollgate-On-Behalf-Of: ${second!.tenantId}:${second!.userId}`]],
      ] as [string, string, string[], unknown?][]),
    ];
    for (const [i, [method, url, lines, body]] of twice.entries()) {
      const answer = await send(method, url, lines, body);
      expectCatalogAnswer(answer, 'BAD_REQUEST', `case ${i}: ${method} ${url} ${lines.map((line) => line.slice(0, line.indexOf(':'))).join(', ')}`);
      expect(JSON.parse(answer.body).error.message).toMatch(/header appears more than once/);
    }
    expect(await snapshot(t.db)).toEqual(before);
    // Once each, the same request is served as the credential it carries.
    const once = await send('GET', '/v1/me', [`Authorization: Bearer ${b.accessToken}`, `Tollgate-Tenant: ${b.tenantId}`]);
    expect([once.status, JSON.parse(once.body).user?.id]).toEqual([200, b.userId]);
  });
});

describe('a request that stops arriving (a real listening server)', () => {
  it('is answered 408 REQUEST_TIMEOUT within the configured time, headers or body, and writes nothing', async () => {
    const { lines, logger } = capturedLogger();
    const slow = await startTestApp({ patch: (file) => { file.http.requestTimeoutSeconds = 1; }, logger });
    try {
      const port = await listening(slow.app);
      const before = await snapshot(slow.db);
      const signup = (headers: string) => `POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n`;
      const body = JSON.stringify({ email: 'slow-loris@example.com', password: 'correct-horse-battery' });
      const stalled: [string, string][] = [
        ['a body short of its Content-Length', `${signup(`Content-Length: ${body.length}\r\n`)}${body.slice(0, 5)}`],
        ['a chunked body without its last chunk', `${signup('Transfer-Encoding: chunked\r\n')}5\r\n${body.slice(0, 5)}\r\n`],
        ['headers without their end', 'POST /v1/signup HTTP/1.1\r\nHost: x\r\n'],
        ['nothing at all', ''],
      ];
      for (const [label, bytes] of stalled) {
        const answer = await exchange(port, bytes, 4000);
        expectCatalogAnswer(answer, 'REQUEST_TIMEOUT', label);
        // 1 s, checked every 250 ms: well before the client would give up.
        expect(answer.ms, label).toBeLessThan(3000);
      }
      expect(await snapshot(slow.db)).toEqual(before);
      expect(lines.filter((line) => JSON.parse(line).level >= 50)).toEqual([]);
      // A slow body that is all in within the time is read as ever.
      const inTime = await exchange(port, `${signup(`Content-Length: ${body.length}\r\n`)}${body.slice(0, 5)}`, 4000, { afterMs: 300, bytes: body.slice(5) });
      expect(inTime.status, inTime.body).toBe(201);
    } finally {
      await slow.close();
    }
  });
});
