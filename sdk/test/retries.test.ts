/**
 * Retries on 429 and 503 honouring Retry-After, with the same idempotency key; timeouts.
 * The 429s come from the real server (plans `throttled`, two a second, and `hourly`, one
 * an hour); the 503s, hangs and refused connections from a local stub. Waits go through
 * an injected `sleep` that records them; against the real server it also waits, since the
 * bucket must refill.
 */
import { createServer } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import { BadRequest, RateLimited, ServiceUnavailable, Tollgate, TollgateConnectionError, TollgateTimeout, type Fetch, type Sleep } from '../src/index.js';
import { apiKey, client, patchTenant, signup } from './fixtures.js';
import { decisionBody, errorBody, stubsClosedAfterEachTest, type Scripted, type Stub } from './stub-server.js';

const ATTEMPTS_TO_EMPTY_A_BUCKET = 20;

function recording(waits: number[], really = false): Sleep {
  return async (ms) => {
    waits.push(ms);
    if (really) await new Promise((resolve) => setTimeout(resolve, ms));
  };
}

describe('429s of a real server', () => {
  let key: string;
  let tenantId: string;
  let reservation: string;
  beforeEach(async () => {
    const owner = await signup();
    ({ tenantId } = owner);
    key = await apiKey(owner);
    reservation = (await client({ apiKey: key }).authorize('clustering')).reservation!.id;
  });

  it('a 429 waits what Retry-After says and sends the call again', async () => {
    await patchTenant(tenantId, { plan: 'throttled' });
    const waits: number[] = [];
    const tg = client({ apiKey: key, retries: 2, sleep: recording(waits, true) });

    // Settling again is idempotent, and each call draws from the tenant's closing bucket
    // (two a second): within a few calls one meets a 429 and is sent again after Retry-After.
    let settled;
    for (let i = 0; i < ATTEMPTS_TO_EMPTY_A_BUCKET && waits.length === 0; i++) settled = await tg.settle(reservation, { credits: 4 });

    expect(waits).toEqual([1000]);
    expect(settled?.reservation).toMatchObject({ status: 'settled', charged: 4 });
  });

  it('without retries the 429 is thrown with code, status, request id and retryAfterMs', async () => {
    await patchTenant(tenantId, { plan: 'throttled' });
    const tg = client({ apiKey: key, retries: 0 });

    let thrown: unknown;
    for (let i = 0; i < ATTEMPTS_TO_EMPTY_A_BUCKET && !thrown; i++) thrown = await tg.settle(reservation, { credits: 4 }).then(() => undefined, (error: unknown) => error);

    expect(thrown).toBeInstanceOf(RateLimited);
    expect(thrown).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 1000, requestId: expect.stringMatching(/^req_/) });
  });

  it('a Retry-After beyond maxRetryWaitMs is thrown at once', async () => {
    await patchTenant(tenantId, { plan: 'hourly' });
    const waits: number[] = [];
    const tg = client({ apiKey: key, retries: 3, maxRetryWaitMs: 10_000, sleep: recording(waits) });
    await tg.settle(reservation, { credits: 4 });

    const thrown = await tg.settle(reservation, { credits: 4 }).catch((error: unknown) => error);

    expect(waits).toEqual([]);
    expect(thrown).toBeInstanceOf(RateLimited);
    expect((thrown as RateLimited).retryAfterMs).toBeGreaterThan(10_000);
  });
});

describe('503s, lost answers and refused connections (a stub server)', () => {
  const serve = stubsClosedAfterEachTest();
  const unavailable: Scripted = { status: 503, body: errorBody('DATABASE_UNAVAILABLE'), headers: { 'retry-after': '2' } };

  it('a 503 is sent again after Retry-After with the same idempotency key', async () => {
    const stub = await serve(unavailable, unavailable, { body: decisionBody() });
    const waits: number[] = [];

    const decision = await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', retries: 2, sleep: recording(waits) }).authorize('clustering');

    expect(decision.allowed).toBe(true);
    expect(waits).toEqual([2000, 2000]);
    expect(stub.received.map((request) => (request.body as { idempotencyKey: string }).idempotencyKey)).toEqual(Array(3).fill(decision.idempotencyKey));
    expect(stub.received.map((request) => request.headers.authorization)).toEqual(Array(3).fill('Bearer tg_x'));
  });

  it('a caller\'s own key is the one sent again', async () => {
    const stub = await serve({ status: 503, body: errorBody('DATABASE_BUSY'), headers: { 'retry-after': '1' } }, { body: decisionBody() });

    await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', sleep: recording([]) }).authorize('clustering', { idempotencyKey: 'job-7' });

    expect(stub.received.map((request) => (request.body as { idempotencyKey: string }).idempotencyKey)).toEqual(['job-7', 'job-7']);
  });

  it('retries are bounded, and the last 503 is thrown with its code, message and request id', async () => {
    const stub = await serve({ status: 503, body: errorBody('DATABASE_UNAVAILABLE', 'down'), headers: { 'retry-after': '1' } });
    const waits: number[] = [];

    const thrown = await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', retries: 3, sleep: recording(waits) }).settle('res_x').catch((error: unknown) => error);

    expect(stub.received).toHaveLength(4);
    expect(waits).toEqual([1000, 1000, 1000]);
    expect(thrown).toBeInstanceOf(ServiceUnavailable);
    expect(thrown).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503, message: 'down', requestId: 'req_stub', retryAfterMs: 1000 });
  });

  it('without Retry-After the waits back off and stay bounded', async () => {
    const stub = await serve({ status: 503, body: errorBody('DATABASE_BUSY') });
    const waits: number[] = [];

    await expect(new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', retries: 4, sleep: recording(waits) }).release('res_x')).rejects.toBeInstanceOf(ServiceUnavailable);

    expect(waits).toHaveLength(4);
    expect(waits.every((wait) => wait > 0 && wait <= 5000)).toBe(true);
    expect(waits[0]!).toBeLessThan(waits[3]!);
  });

  it('a client error is not sent again', async () => {
    const stub = await serve({ status: 400, body: errorBody('VALIDATION_FAILED') }, { body: decisionBody() });

    await expect(new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', retries: 3, sleep: recording([]) }).authorize('clustering')).rejects.toBeInstanceOf(BadRequest);

    expect(stub.received).toHaveLength(1);
  });

  // What the client sent is kept as it leaves (sending()), not read from the stub: on a loaded
  // machine an attempt can time out before its request reaches the stub, which is no fault
  // of the client and made these tests fail now and then (1 request received, 2 expected).
  it('an answer that does not come is a timeout, and the decision is asked again with the same key', async () => {
    const stub = await serve({ hang: true });
    const waits: number[] = [];
    const sent: Request[] = [];

    const thrown = await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', timeoutMs: 200, retries: 1, sleep: recording(waits), fetch: sending(sent) })
      .authorize('clustering').catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(TollgateTimeout);
    expect(thrown).toBeInstanceOf(TollgateConnectionError);
    expect(thrown).toMatchObject({ code: null, status: null, requestId: null });
    expect(waits).toHaveLength(1);
    expect(sent).toHaveLength(2);
    expect(new Set(await idempotencyKeys(sent)).size).toBe(1);
  });

  it('a call that is not idempotent is not sent again after a lost answer or a 503, but is after a 429', async () => {
    const lost = await serve({ hang: true });
    const unavailableOnce = await serve(unavailable, { status: 201, body: { id: 'tnt_x' } });
    const limitedOnce = await serve({ status: 429, body: errorBody('RATE_LIMITED'), headers: { 'retry-after': '1' } }, { status: 201, body: { id: 'tnt_x' } });
    const sent: Request[] = [];
    const options = { apiKey: 'tg_x', timeoutMs: 200, retries: 2, sleep: recording([]), fetch: sending(sent) };
    const createTenant = (stub: Stub) => new Tollgate({ baseUrl: stub.url, ...options }).request('POST', '/v1/tenants', { body: { name: 'team' } });

    const lostAnswer = await createTenant(lost).catch((error: unknown) => error);
    // A 503 DATABASE_UNAVAILABLE can follow a commit whose answer was lost: the tenant may exist.
    const failedAnswer = await createTenant(unavailableOnce).catch((error: unknown) => error);
    const created = await createTenant(limitedOnce);

    expect(lostAnswer).toBeInstanceOf(TollgateTimeout);
    expect(sent.filter((request) => request.url.startsWith(lost.url))).toHaveLength(1);
    expect(failedAnswer).toBeInstanceOf(ServiceUnavailable);
    expect(failedAnswer).toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryAfterMs: 2000 });
    expect(unavailableOnce.received).toHaveLength(1);
    expect(created).toEqual({ id: 'tnt_x' });
    expect(limitedOnce.received).toHaveLength(2);
  });

  it('a POST marked idempotent (the server answers it again) is sent again after a 503', async () => {
    const stub = await serve(unavailable, { body: { credits: { balance: 510 }, replayed: true } });
    const grant = { amount: 500, reason: 'goodwill', idempotencyKey: 'ticket-4711' };

    const granted = await new Tollgate({ baseUrl: stub.url, token: 'operator', sleep: recording([]) })
      .request('POST', '/v1/admin/tenants/tnt_x/credits', { body: grant, idempotent: true });

    expect(granted).toMatchObject({ replayed: true });
    expect(stub.received.map((request) => request.body)).toEqual([grant, grant]);
  });

  it('a refused connection is retried, then thrown', async () => {
    const port = await freePort();
    const waits: number[] = [];

    const thrown = await new Tollgate({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'tg_x', retries: 2, sleep: recording(waits) }).authorize('clustering').catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(TollgateConnectionError);
    expect(thrown).not.toBeInstanceOf(TollgateTimeout);
    expect((thrown as TollgateConnectionError).message).toMatch(/ECONNREFUSED/);
    expect(waits).toHaveLength(2);
  });

  it('the caller\'s signal ends the call and its retries with the signal\'s reason', async () => {
    const stub = await serve(unavailable);
    const caller = new AbortController();
    const reason = new Error('the user went away');
    const sleep: Sleep = async () => { caller.abort(reason); };

    const thrown = await new Tollgate({ baseUrl: stub.url, apiKey: 'tg_x', retries: 5, sleep }).authorize('clustering', { signal: caller.signal }).catch((error: unknown) => error);

    expect(thrown).toBe(reason);
    expect(stub.received).toHaveLength(1);
  });
});

/** The fetch a client sends with, keeping a copy of each request as it leaves. */
function sending(sent: Request[]): Fetch {
  return (request) => {
    sent.push(request.clone());
    return globalThis.fetch(request);
  };
}

async function idempotencyKeys(requests: Request[]): Promise<string[]> {
  return Promise.all(requests.map(async (request) => ((await request.json()) as { idempotencyKey: string }).idempotencyKey));
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
