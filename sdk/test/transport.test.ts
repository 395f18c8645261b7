/**
 * What the transport does with answers only a broken server or a proxy gives: a body that
 * drips past `timeoutMs`. From a local stub, since what is tested is the client.
 */
import { describe, expect, it } from 'vitest';
import { ServerError, Tollgate, TollgateTimeout } from '../src/index.js';
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
