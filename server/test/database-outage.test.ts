import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, createTollgate } from '../src/index.js';
import { ManualClock } from '../src/lib/clock.js';
import { POSTGRES_URL, capturedLogger, countQueries, createTestDatabase, onPostgres, startTestApp, testConfig, type TestApp } from './harness.js';
import { cuttableRelay, type CuttableRelay } from './tcp-relay.js';

// PGlite lives in the process: only a database server can go away.
describe.skipIf(!onPostgres)('the database out of reach', () => {
  let relay: CuttableRelay;
  let t: TestApp;
  const { lines, logger } = capturedLogger();

  beforeAll(async () => {
    relay = await cuttableRelay(POSTGRES_URL!);
    t = await startTestApp({ databaseVia: relay.via, logger });
  });
  afterAll(async () => {
    await t?.close();
  });

  const usedRuns = async (tenantId: string) =>
    Number((await t.db.asOwner<{ used: string }>("SELECT coalesce(sum(used), 0) AS used FROM usage_counters WHERE tenant_id = $1 AND meter = 'runs'", [tenantId]))[0]!.used);

  it('is a 503 to retry, never a 500, and everything serves again once it is back', async () => {
    const owner = await t.signup();
    const authorize = () => t.request({ method: 'POST', url: '/v1/authorize', token: owner.accessToken, payload: { operation: 'clustering' } });
    expect((await authorize()).statusCode).toBe(200); // the token, the user and the tenant now cached
    expect((await t.request({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    // Public and unthrottled, so it asks the database at most once a second.
    const queries = countQueries(t);
    await Promise.all(Array.from({ length: 5 }, () => t.request({ method: 'GET', url: '/healthz' })));
    expect(queries.count()).toBe(0);
    queries.restore();

    await relay.cut();
    t.clock.advance(1000); // past the second /healthz remembers an answer for
    const calls = [
      () => t.request({ method: 'GET', url: '/healthz' }),
      authorize,
      () => t.request({ method: 'GET', url: '/v1/me', token: owner.accessToken }),
      () => t.request({ method: 'POST', url: '/v1/signup', payload: { email: 'outage@example.com', password: 'correct-horse-battery' } }),
    ];
    for (const call of calls) {
      const res = await call();
      expect([res.statusCode, res.json().error?.code, res.headers['retry-after']]).toEqual([503, 'DATABASE_UNAVAILABLE', '1']);
    }
    expect(lines.filter((l) => l.includes('unhandled error'))).toEqual([]);
    expect(lines.filter((l) => l.includes('database unreachable')).length).toBeGreaterThanOrEqual(calls.length);

    await relay.restore();
    expect((await t.request({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await authorize()).json()).toMatchObject({ allowed: true });
    // Nothing of the refused calls was kept: one run before the outage, one after.
    expect(await usedRuns(owner.tenantId)).toBe(2);
    const [users] = await t.db.asOwner<{ count: string }>("SELECT count(*) FROM users WHERE email = 'outage@example.com'");
    expect(Number(users!.count)).toBe(0);
  });

  it('a host that answers nothing is a 503 once the connect timeout passes, not a request held for the driver\'s 30 s', async () => {
    const silentRelay = await cuttableRelay(POSTGRES_URL!);
    const app = await startTestApp({ databaseVia: silentRelay.via, databaseConnectTimeoutSeconds: 1 });
    try {
      const owner = await app.signup();
      silentRelay.hang(); // the pool's connections are gone; every new one is accepted and never answered
      const res = await app.request({ method: 'GET', url: '/v1/me', token: owner.accessToken });
      expect([res.statusCode, res.json().error?.code, res.headers['retry-after']]).toEqual([503, 'DATABASE_UNAVAILABLE', '1']);
      await silentRelay.restore();
      expect((await app.request({ method: 'GET', url: '/v1/me', token: owner.accessToken })).statusCode).toBe(200);
    } finally {
      await silentRelay.restore();
      await app.close();
    }
  }, 10_000);

  it('embedded, an outage rejects with the AppError an HTTP caller gets as its 503, not the driver\'s error', async () => {
    const embeddedRelay = await cuttableRelay(POSTGRES_URL!);
    const db = await createTestDatabase({ via: embeddedRelay.via });
    const tollgate = await createTollgate(testConfig(), { database: db.database, clock: new ManualClock(), logger: pino({ level: 'silent' }) });
    try {
      const { tenant, accessToken } = await tollgate.deps.auth.signup({ email: 'embedded-outage@example.com', password: 'correct-horse-battery' }, {});
      expect(await tollgate.authorize(accessToken, { operation: 'clustering' })).toMatchObject({ allowed: true });

      await embeddedRelay.cut();
      for (const call of [() => tollgate.authorize(accessToken, { operation: 'clustering' }), () => tollgate.credits(tenant.id)]) {
        const error = await call().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', details: { retryAfterMs: 1000 }, cause: expect.objectContaining({ code: expect.any(String) }) });
      }
      // Refusals that are not the database's stay what they were.
      await expect(tollgate.authorize('tg_not-a-key', { operation: 'clustering' })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });

      await embeddedRelay.restore();
      expect(await tollgate.authorize(accessToken, { operation: 'clustering' })).toMatchObject({ allowed: true });
    } finally {
      await embeddedRelay.restore();
      await tollgate.close();
      await db.drop();
    }
  });
});
