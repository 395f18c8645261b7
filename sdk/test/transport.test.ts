/**
 * What the transport does with answers only a broken server or a proxy gives: a body that
 * drips past `timeoutMs`, a redirect. From a local stub, since what is tested is the client.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ServerError, Tollgate, TollgateError, TollgateTimeout, unwrap } from '../src/index.js';
import { errorBody, stubsClosedAfterEachTest, type Scripted } from './stub-server.js';

const TIMEOUT_MS = 300;
/** A byte every 50 ms: each comes well within the timeout, the whole body (60 bytes or more) well beyond it. */
const DRIP_MS = 50;
const PAGE = `<html><body>${' '.repeat(30)}502 Bad Gateway</body></html>`;

const serve = stubsClosedAfterEachTest();

describe('timeoutMs bounds the whole answer', () => {
  const dripped: Record<string, Scripted> = {
    'a proxy\'s HTML 502': { status: 502, headers: { 'content-type': 'text/html' }, raw: PAGE, drip: DRIP_MS },
    'a text/plain answer': { headers: { 'content-type': 'text/plain' }, raw: PAGE, drip: DRIP_MS },
    'an error\'s JSON body': { status: 503, body: errorBody('DATABASE_UNAVAILABLE', 'x'.repeat(60)), drip: DRIP_MS },
    'a JSON answer': { raw: JSON.stringify({ balance: 10, reserved: 0, available: 10 }), drip: DRIP_MS },
  };

  it.each(Object.entries(dripped))('%s that drips past it is a timeout', async (_name, answer) => {
    const stub = await serve(answer);

    const thrown = await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', timeoutMs: TIMEOUT_MS, retries: 0 }).credits('tnt_x').catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(TollgateTimeout);
  });

  it('an error answer read within it is thrown with its status', async () => {
    const stub = await serve({ status: 502, headers: { 'content-type': 'text/html' }, raw: PAGE });

    const thrown = await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', retries: 0 }).credits('tnt_x').catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(ServerError);
    expect(thrown).toMatchObject({ status: 502, code: null });
  });

  it('a successful export is a stream: its rows may come after it', async () => {
    const csv = 'date,operation,credits\n2030-01-01,clustering,10\n';
    const stub = await serve({ headers: { 'content-type': 'text/csv; charset=utf-8' }, raw: csv, drip: 20 });
    const tg = new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', timeoutMs: TIMEOUT_MS, retries: 0 });

    const { data } = await tg.api.GET('/v1/tenants/{tenantId}/usage/export', { params: { path: { tenantId: 'tnt_x' } }, parseAs: 'stream' });

    expect(await new Response(data as ReadableStream).text()).toBe(csv);
  });
});

describe('a redirect is never followed', () => {
  const SECRET = 'tg_secret_that_must_stay_home';
  // Were the redirect followed, the call would wait for an origin that never answers: a short timeout, no retries.
  const client = (baseUrl: string, credential: { apiKey?: string; token?: string } = {}) => new Tollgate({ baseUrl, ...credential, timeoutMs: 1000, retries: 0 });
  const calls: Record<string, (url: string) => Promise<unknown>> = {
    'sign-in (POST /v1/token, the password in its body)': (url) => unwrap(client(url).api.POST('/v1/token', { body: { grantType: 'password', email: 'ops@example.com', password: SECRET } })),
    'authorize (POST, the key in its header)': (url) => client(url, { apiKey: SECRET }).authorize('clustering'),
    'credits (GET)': (url) => client(url, { apiKey: SECRET }).credits('tnt_x'),
    'a provider key (PUT, in its body)': (url) => client(url, { token: 'operator-token' }).request('PUT', '/v1/tenants/tnt_x/routes/own', { body: { provider: 'openai', apiKey: SECRET } }),
  };

  interface Origin { url: string; connections: number; received: string }
  const origins: Server[] = [];
  afterEach(async () => {
    await Promise.all(origins.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  /** Another origin, which counts the connections and keeps the bytes it gets, and never answers. */
  async function anotherOrigin(): Promise<Origin> {
    const origin: Origin = { url: '', connections: 0, received: '' };
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      origin.connections++;
      sockets.push(socket);
      socket.on('data', (chunk: Buffer) => { origin.received += chunk.toString(); });
    });
    server.on('close', () => { for (const socket of sockets) socket.destroy(); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origins.push(server);
    origin.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return origin;
  }

  for (const status of [301, 302, 303, 307, 308]) {
    it.each(Object.entries(calls))(`${status} for %s: thrown, and nothing reaches the location`, async (_name, call) => {
      const origin = await anotherOrigin();
      const location = `${origin.url}/v1/moved`;
      const stub = await serve({ status, headers: { location } });

      const thrown = await call(stub.url).catch((error: unknown) => error);

      expect(thrown).toBeInstanceOf(TollgateError);
      expect((thrown as TollgateError).constructor).toBe(TollgateError);
      expect(thrown).toMatchObject({ status, message: expect.stringContaining(`redirected to ${location}: not followed`) });
      expect(stub.received).toHaveLength(1); // not sent again either
      expect(origin).toMatchObject({ connections: 0, received: '' });
    });
  }
});
