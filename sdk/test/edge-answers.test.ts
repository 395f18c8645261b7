/**
 * The answers of the server's HTTP edge, given below its routes: 408 REQUEST_TIMEOUT (a
 * request not all in within `http.requestTimeoutSeconds`), 417 EXPECTATION_FAILED and 431
 * HEADERS_TOO_LARGE. The 408s and 431s come from real servers: the 408 from one of its own
 * with a one-second request time, reached through a relay that passes on a request's
 * headers and holds back its body, as a stalled upload does. The 417 comes from the stub:
 * fetch refuses to send an `Expect` header at all, so no call of this SDK can draw one.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BadRequest, ExpectationFailed, HeadersTooLarge, RequestTimeout, Tollgate, TollgateConnectionError, unwrap, type Sleep,
} from '../src/index.js';
import { suiteConfig } from './config.js';
import { client } from './fixtures.js';
import { errorBody, stubsClosedAfterEachTest } from './stub-server.js';
import { startTollgate, type TollgateProcess } from './tollgate-server.js';

const recording = (waits: number[]): Sleep => async (ms) => { waits.push(ms); };

describe('408 REQUEST_TIMEOUT of a real server (its request time run out)', () => {
  let server: TollgateProcess;
  let token: string;
  beforeAll(async () => {
    server = await startTollgate({ ...suiteConfig(), http: { requestTimeoutSeconds: 1 } });
    const me = await unwrap(new Tollgate({ baseUrl: server.url }).api.POST('/v1/signup', { body: { email: 'slow-upload@example.com', password: 'a-long-password' } }));
    token = me.accessToken;
  });
  afterAll(async () => { await server?.stop(); });

  const tenantsNamed = async (name: string) =>
    (await new Tollgate({ baseUrl: server.url, token }).request<{ memberships: { tenantName: string }[] }>('GET', '/v1/me')).memberships.filter((m) => m.tenantName === name);

  it('is sent again, a POST that creates too: the server read none of the first, so the tenant is created once', async () => {
    const relay = await stallingRelay(server.url, 1);
    const waits: number[] = [];
    try {
      const created = await new Tollgate({ baseUrl: relay.url, token, retries: 1, sleep: recording(waits) })
        .request<{ id: string }>('POST', '/v1/tenants', { body: { name: 'after-a-408' } });

      expect(relay.connections()).toBe(2);
      expect(waits).toHaveLength(1);
      expect(await tenantsNamed('after-a-408')).toHaveLength(1);
      expect(created.id).toMatch(/^tnt_/);
    } finally {
      await relay.close();
    }
  });

  it('after the retries it is thrown as RequestTimeout, with the code, status and request id, and nothing was done', async () => {
    const relay = await stallingRelay(server.url, 2);
    try {
      const thrown = await new Tollgate({ baseUrl: relay.url, token, retries: 1, sleep: recording([]) })
        .request('POST', '/v1/tenants', { body: { name: 'never-arrived' } }).catch((error: unknown) => error);

      expect(thrown).toBeInstanceOf(RequestTimeout);
      expect(thrown).not.toBeInstanceOf(TollgateConnectionError);
      expect(thrown).toMatchObject({ name: 'RequestTimeout', code: 'REQUEST_TIMEOUT', status: 408, requestId: expect.stringMatching(/^req_/) });
      expect(relay.connections()).toBe(2);
      expect(await tenantsNamed('never-arrived')).toEqual([]);
    } finally {
      await relay.close();
    }
  });
});

describe('431 HEADERS_TOO_LARGE of the real server', () => {
  it('a credential over what the server reads is HeadersTooLarge, a kind of BadRequest, and not sent again', async () => {
    const sent: Request[] = [];
    const tg = client({ apiKey: `tg_${'x'.repeat(20_000)}`, retries: 2, sleep: recording([]), fetch: (request) => { sent.push(request); return globalThis.fetch(request); } });

    const thrown = await tg.authorize('clustering').catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(HeadersTooLarge);
    expect(thrown).toBeInstanceOf(BadRequest);
    expect(thrown).toMatchObject({ name: 'HeadersTooLarge', code: 'HEADERS_TOO_LARGE', status: 431, requestId: expect.stringMatching(/^req_/) });
    expect(sent).toHaveLength(1);
  });
});

describe('417 EXPECTATION_FAILED (a stub server)', () => {
  const serve = stubsClosedAfterEachTest();

  it('is ExpectationFailed, a kind of BadRequest, and not sent again', async () => {
    const stub = await serve({ status: 417, body: errorBody('EXPECTATION_FAILED') }, { body: {} });

    const thrown = await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', retries: 2, sleep: recording([]) }).request('GET', '/v1/me').catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(ExpectationFailed);
    expect(thrown).toBeInstanceOf(BadRequest);
    expect(thrown).toMatchObject({ name: 'ExpectationFailed', code: 'EXPECTATION_FAILED', status: 417 });
    expect(stub.received).toHaveLength(1);
  });
});

/**
 * A TCP relay to `target` whose first `stalls` connections pass on what the client sends
 * up to the end of its headers and drop the rest (the body never arrives); later ones pass
 * everything. The server's answers pass as they come.
 */
async function stallingRelay(target: string, stalls: number): Promise<{ url: string; connections(): number; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let connections = 0;
  const relay = createServer((client) => {
    const stalled = connections++ < stalls;
    const upstream = createConnection(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined).on('close', () => { sockets.delete(socket); });
    }
    upstream.pipe(client);
    if (!stalled) {
      client.pipe(upstream);
      return;
    }
    let head = Buffer.alloc(0);
    let passed = false;
    client.on('data', (chunk: Buffer) => {
      if (passed) return;
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      passed = true;
      upstream.write(head.subarray(0, end + 4));
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port: relayPort } = relay.address() as { port: number };
  return {
    url: `http://127.0.0.1:${relayPort}`,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}
