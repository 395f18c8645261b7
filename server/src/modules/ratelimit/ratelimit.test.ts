import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../config-schema.js';
import pino from 'pino';
import { buildApp } from '../../app.js';
import { CACHE_TTL_MS, createDeps } from '../../deps.js';
import { capturedLogger, countQueries, metricSample, scrapeMetrics, startTestApp, testConfig, type TestApp } from '../../../test/harness.js';
import { generateKey } from '../apikeys/index.js';
import { RateLimitService } from './service.js';
import { cuttableRelay } from '../../../test/tcp-relay.js';

/** Redis suites run where REDIS_URL names a server (CI starts one); they say so when skipped. */
const REDIS_URL = process.env.REDIS_URL || undefined;
if (!REDIS_URL) console.log('[tollgate] REDIS_URL not set: Redis-backed rate-limit tests are SKIPPED');

const apps: TestApp[] = [];
afterAll(async () => { for (const t of apps) await t.close(); });

async function appWith(limits: { api?: number; auth?: number; credentials?: number; failMode?: 'open' | 'closed' }, env: Record<string, string> = {}, bypass: string[] = []): Promise<TestApp> {
  const t = await startTestApp({
    env,
    patch: (file: ConfigFile) => {
      file.rateLimits.scopes.api = { limit: limits.api ?? 1_000_000, windowSeconds: 60, failMode: limits.failMode ?? 'open' };
      file.rateLimits.scopes.auth = { limit: limits.auth ?? 1_000_000, windowSeconds: 60, failMode: limits.failMode ?? 'open' };
      file.rateLimits.scopes.credentials = { limit: limits.credentials ?? 1_000_000, windowSeconds: 60, failMode: limits.failMode ?? 'open' };
      file.rateLimits.bypassPrincipals = bypass;
    },
  });
  apps.push(t);
  return t;
}

describe('route-scope rate limits (in memory)', () => {
  it('closing reservations draws from a tenant bucket as big as the authorize one, not from the per-principal route bucket', async () => {
    const t = await startTestApp({
      patch: (file) => {
        file.rateLimits.scopes.api = { limit: 2, windowSeconds: 60, failMode: 'open' };
        file.rateLimits.scopes.authorize = { limit: 4, windowSeconds: 60, failMode: 'closed' };
      },
    });
    apps.push(t);
    const owner = await t.signup();
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key as string;
    const authorize = () => t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } });
    const settle = (id: string) => t.request({ method: 'POST', url: `/v1/reservations/${id}/settle`, token: key, payload: {} });
    // Three runs opened and closed by one key: more closes than its route bucket's 2.
    let last = '';
    for (let i = 0; i < 3; i++) {
      const decision = (await authorize()).json();
      expect(decision.allowed).toBe(true);
      last = decision.reservation.id;
      expect((await settle(last)).statusCode).toBe(200);
    }
    // The closing bucket is the tenant's (4): a fourth close passes, a fifth is refused…
    expect((await settle(last)).statusCode).toBe(200);
    const refused = await settle(last);
    expect([refused.statusCode, refused.json().error.code, refused.headers['ratelimit-limit'], typeof refused.headers['retry-after']]).toEqual([429, 'RATE_LIMITED', '4', 'string']);
    // …and closing spent nothing of what opening may use.
    expect((await authorize()).json()).toMatchObject({ allowed: true });
    expect((await authorize()).json()).toMatchObject({ allowed: false, code: 'RATE_LIMITED' });
  });

  it('an authenticated owner is throttled like anyone else, with RateLimit-* and Retry-After headers', async () => {
    const t = await appWith({ api: 5 });
    const owner = await t.signup();
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 7; i++) {
      last = await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: owner.accessToken });
      statuses.push(last.statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(last!.json().error.code).toBe('RATE_LIMITED');
    expect(last!.headers['ratelimit-limit']).toBe('5');
    expect(last!.headers['ratelimit-remaining']).toBe('0');
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    // another principal has its own bucket
    const other = await t.signup();
    expect((await t.request({ method: 'GET', url: '/v1/me', token: other.accessToken })).statusCode).toBe(200);
  });

  it('a tenant\'s API keys share its route bucket (minting keys buys no room); another tenant\'s and a user\'s are their own', async () => {
    const t = await appWith({ api: 3 });
    const owner = await t.signup();
    const newKey = async (tenantOwner: typeof owner) =>
      (await t.request({ method: 'POST', url: `/v1/tenants/${tenantOwner.tenantId}/api-keys`, token: tenantOwner.accessToken, payload: { name: 'k', scopes: ['read'] } })).json().key as string;
    const [first, second] = [await newKey(owner), await newKey(owner)]; // the owner's own bucket: 2 of 3
    const read = (key: string, tenantId = owner.tenantId) => t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/usage`, token: key });
    const statuses = [];
    for (const key of [first, second, first, second]) statuses.push((await read(key)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const other = await t.signup();
    expect((await read(await newKey(other), other.tenantId)).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: owner.accessToken })).statusCode).toBe(200);
  });

  it('sign-in routes are limited per client address, before the body is even read', async () => {
    const t = await appWith({ auth: 3, credentials: 3 });
    const codes = [];
    for (let i = 0; i < 5; i++) {
      codes.push((await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: 'nobody@example.com', password: 'wrong-password' } })).statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 429, 429]);
    const malformed = await t.request({ method: 'POST', url: '/v1/token', payload: '{broken' , headers: { 'content-type': 'application/json' } });
    expect(malformed.statusCode).toBe(429);
    // Credentials found bad have a bucket of their own: a spent sign-in bucket does not
    // hold up the look-up of a key this process does not know.
    expect((await t.request({ method: 'GET', url: '/v1/me', token: generateKey('tg') })).statusCode).toBe(401);
  });

  it('look-ups that find nothing spend the address\'s credentials bucket: then keys not known here are refused before the database; keys in use pass', async () => {
    const t = await appWith({ credentials: 4 });
    const owner = await t.signup(); // from the default address, 127.0.0.1
    const newKey = async () => (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['read'] } })).json().key as string;
    const key = await newKey();
    const from = (remoteAddress: string, bearer: string) => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: bearer, remoteAddress });
    // A look-up that finds its key gives its point back: this one spends nothing.
    expect((await from('10.0.0.9', key)).statusCode).toBe(200);
    // Distinct well-formed keys (right checksum, never issued): each a look-up, each a point.
    for (let i = 0; i < 4; i++) expect((await from('10.0.0.9', generateKey('tg'))).statusCode).toBe(401);
    const queries = countQueries(t);
    try {
      const refused = await from('10.0.0.9', generateKey('tg'));
      expect(refused.statusCode).toBe(429);
      expect(refused.json().error.code).toBe('RATE_LIMITED');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(queries.count()).toBe(0);
      // The key in use from the same address is not held up, neither from the cache nor
      // when its cache entry has lapsed and it is looked up again.
      expect((await from('10.0.0.9', key)).statusCode).toBe(200);
      t.clock.advance(CACHE_TTL_MS);
      expect((await from('10.0.0.9', key)).statusCode).toBe(200);
      expect(queries.count()).toBeGreaterThan(0);
      // Another address still looks up.
      const before = queries.count();
      expect((await from('10.0.0.10', generateKey('tg'))).statusCode).toBe(401);
      expect(queries.count()).toBeGreaterThan(before);
    } finally {
      queries.restore();
    }
    // A key this process has never seen waits for the bucket like an unknown one.
    expect((await from('10.0.0.9', await newKey())).statusCode).toBe(429);
    // A bucket of its own: the address can still sign in.
    const signIn = await t.request({ method: 'POST', url: '/v1/token', remoteAddress: '10.0.0.9', payload: { grantType: 'password', email: owner.email, password: owner.password } });
    expect(signIn.statusCode).toBe(200);
  });

  it('concurrent look-ups from one address never pass its bucket', async () => {
    const t = await appWith({ credentials: 4 });
    const owner = await t.signup();
    const calls = Array.from({ length: 10 }, () => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: generateKey('tg'), remoteAddress: '10.0.0.11' }));
    const statuses = (await Promise.all(calls)).map((r) => r.statusCode).sort();
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
  });

  it('a burst with a valid key this process has not resolved yet shares one look-up: no call of it is refused, and the address keeps its bucket', async () => {
    const t = await appWith({ credentials: 4 });
    const owner = await t.signup();
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['read'] } })).json().key as string;
    // Twenty look-ups would each take one of the four points before the database answers.
    const calls = Array.from({ length: 20 }, () => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: key, remoteAddress: '10.0.0.12' }));
    expect((await Promise.all(calls)).map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    // The look-up gave its point back: the address still has its whole bucket for unknown keys.
    const unknown = await Promise.all(Array.from({ length: 5 }, () => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: generateKey('tg'), remoteAddress: '10.0.0.12' })));
    expect(unknown.map((r) => r.statusCode).sort()).toEqual([401, 401, 401, 401, 429]);
  });

  it('tokens that fail their signature check spend the address\'s credentials bucket: then tokens not verified here are refused before the check; tokens in use pass', async () => {
    const t = await appWith({ credentials: 4 });
    const owner = await t.signup();
    const other = await t.signup(); // its token not used yet: never verified here
    const me = (remoteAddress: string, token: string) => t.request({ method: 'GET', url: '/v1/me', token, remoteAddress });
    // A token whose signature checks out gives its point back: this spends nothing.
    expect((await me('10.0.0.20', owner.accessToken)).statusCode).toBe(200);
    // Tokens no issuer of ours could have signed are refused without a check, and free.
    for (let i = 0; i < 6; i++) expect((await me('10.0.0.20', `${'e30'}.${'e30'}.x${i}`)).statusCode).toBe(401);
    // Our issuer's claims under another token's signature: each a failed check, each a point.
    const forged = forgedSignature(owner.accessToken, other.accessToken);
    for (let i = 0; i < 4; i++) expect((await me('10.0.0.20', forged)).statusCode).toBe(401);
    const refused = await me('10.0.0.20', forged);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Refused before the check: a good token not verified here yet waits like a forged one.
    expect((await me('10.0.0.20', other.accessToken)).statusCode).toBe(429);
    // The token in use from the same address is not held up.
    expect((await me('10.0.0.20', owner.accessToken)).statusCode).toBe(200);
    // Another address checks its own.
    expect((await me('10.0.0.21', forged)).statusCode).toBe(401);
    expect((await me('10.0.0.21', other.accessToken)).statusCode).toBe(200);
    // A bucket of its own: the address can still sign in.
    const signIn = await t.request({ method: 'POST', url: '/v1/token', remoteAddress: '10.0.0.20', payload: { grantType: 'password', email: owner.email, password: owner.password } });
    expect(signIn.statusCode).toBe(200);
  });

  it('a burst with a token not verified here yet shares one check: no call of it is refused, and the address keeps its bucket', async () => {
    const t = await appWith({ credentials: 4 });
    const owner = await t.signup();
    // Twenty checks would each take one of the four points before the first one ends.
    const calls = Array.from({ length: 20 }, () => t.request({ method: 'GET', url: '/v1/me', token: owner.accessToken, remoteAddress: '10.0.0.22' }));
    expect((await Promise.all(calls)).map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    const forged = forgedSignature(owner.accessToken, (await t.signup()).accessToken);
    const bad = await Promise.all(Array.from({ length: 5 }, (_, i) => t.request({ method: 'GET', url: '/v1/me', token: `${forged}${'A'.repeat(i)}`, remoteAddress: '10.0.0.22' })));
    expect(bad.map((r) => r.statusCode).sort()).toEqual([401, 401, 401, 401, 429]);
  });

  it('a token whose identity provider cannot be asked keeps no point: an outage does not spend the address', async () => {
    const t = await startTestApp({
      patch: (file) => {
        file.rateLimits.scopes.credentials = { limit: 2, windowSeconds: 60, failMode: 'open' };
        file.auth.identityProviders = [{
          name: 'unreachable', issuer: 'https://unreachable.example/', audience: 'tollgate-api', jwksUrl: 'http://127.0.0.1:1/jwks.json', jwksTimeoutMs: 5000,
          claims: { subject: 'sub', email: 'email' }, autoProvision: true,
        }];
      },
    });
    apps.push(t);
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://unreachable.example/').setAudience('tollgate-api')
      .setSubject('someone').setExpirationTime(Math.floor(t.clock.now().getTime() / 1000) + 300).sign(privateKey);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await t.request({ method: 'GET', url: '/v1/me', token, remoteAddress: '10.0.0.30' })).statusCode);
    expect(statuses).toEqual([503, 503, 503, 503]);
  });

  it('only principals listed in bypassPrincipals skip the limit', async () => {
    const t = await appWith({ api: 2 });
    const vip = await t.signup();
    const regular = await t.signup();
    const second = await secondProcess(t, { api: 2, bypass: [vip.userId] });
    const statuses = async (token: string) => {
      const out = [];
      for (let i = 0; i < 4; i++) out.push((await second.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${token}` } })).statusCode);
      return out;
    };
    expect(await statuses(vip.accessToken)).toEqual([200, 200, 200, 200]);
    expect(await statuses(regular.accessToken)).toEqual([200, 200, 429, 429]);
    await second.close();
  });
});

/** Another server process over the same database, with its own config and rate-limit store. */
async function secondProcess(t: TestApp, o: { api: number; bypass?: string[]; env?: Record<string, string>; prefix?: string }) {
  const config = testConfig((file) => {
    file.rateLimits.scopes.api = { limit: o.api, windowSeconds: 60, failMode: 'closed' };
    file.rateLimits.bypassPrincipals = o.bypass ?? [];
  }, o.env);
  const deps = await createDeps(config, { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }), rateLimitPrefix: o.prefix ?? `p-${Math.random()}` });
  const app = await buildApp(deps);
  return {
    inject: app.inject.bind(app),
    close: async () => {
      await app.close();
      await deps.rateLimits.close();
    },
  };
}

describe('the store when Redis is unreachable', () => {
  const dead = 'redis://127.0.0.1:1';

  it('fail-open scopes let requests through, marked degraded', async () => {
    const service = new RateLimitService({ redisUrl: dead, prefix: 'dead-open' });
    const outcome = await service.consume([{ rule: { scope: 'route:api', limit: 1, windowSeconds: 60, failMode: 'open' }, subject: 'p1' }]);
    expect(outcome).toMatchObject({ allowed: true, degraded: 'open' });
    await service.close();
  });

  it('fail-closed scopes refuse, and over HTTP answer 503 RATE_LIMIT_UNAVAILABLE', async () => {
    const service = new RateLimitService({ redisUrl: dead, prefix: 'dead-closed' });
    const outcome = await service.consume([{ rule: { scope: 'tenant:authorize', limit: 100, windowSeconds: 60, failMode: 'closed' }, subject: 'tnt' }]);
    expect(outcome).toMatchObject({ allowed: false, degraded: 'closed' });
    await service.close();
    const t = await appWith({ api: 100, failMode: 'closed' }, { REDIS_URL: dead });
    await t.deps.auth.ensureOperator('closed@example.com', 'closed-password-1', 'test');
    const token = (await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: 'closed@example.com', password: 'closed-password-1' } }));
    expect(token.statusCode).toBe(503);
    expect(token.json().error.code).toBe('RATE_LIMIT_UNAVAILABLE');
  });

  it('the credentials guard follows its scope\'s fail mode: open checks the key, closed answers 503', async () => {
    const guarded = async (failMode: 'open' | 'closed') => {
      const t = await startTestApp({ env: { REDIS_URL: dead }, patch: (file) => { file.rateLimits.scopes.credentials = { limit: 100, windowSeconds: 60, failMode }; } });
      apps.push(t);
      const res = await t.request({ method: 'GET', url: '/v1/me', token: generateKey('tg') });
      return [res.statusCode, res.json().error.code];
    };
    expect(await guarded('open')).toEqual([401, 'UNAUTHENTICATED']);
    expect(await guarded('closed')).toEqual([503, 'RATE_LIMIT_UNAVAILABLE']);
  });
});

describe('refunds', () => {
  const rule = { scope: 'tenant:authorize', limit: 2, windowSeconds: 60, failMode: 'closed' as const };

  async function refundedPointIsSpentAgain(redisUrl: string | undefined) {
    const service = new RateLimitService({ redisUrl, prefix: `refund-${Math.random()}` });
    await service.connected();
    const checks = [{ rule, subject: 'tnt_refund' }];
    expect((await service.consume(checks)).allowed).toBe(true);
    expect((await service.consume(checks)).allowed).toBe(true);
    await service.refund(checks);
    expect((await service.consume(checks)).allowed).toBe(true);
    expect((await service.consume(checks)).allowed).toBe(false);
    await service.close();
  }

  it('a refunded point can be spent again (memory)', () => refundedPointIsSpentAgain(undefined));
  it.skipIf(!REDIS_URL)('a refunded point can be spent again (Redis)', () => refundedPointIsSpentAgain(REDIS_URL));
});

describe.skipIf(!REDIS_URL)('Redis-backed rate limits', () => {
  it('two server processes share one bucket per principal', async () => {
    const t = await appWith({});
    const owner = await t.signup();
    const prefix = `shared-${Date.now()}-${Math.random()}`;
    const one = await secondProcess(t, { api: 4, env: { REDIS_URL: REDIS_URL! }, prefix });
    const two = await secondProcess(t, { api: 4, env: { REDIS_URL: REDIS_URL! }, prefix });
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const app = i % 2 ? two : one;
      statuses.push((await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${owner.accessToken}` } })).statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    await one.close();
    await two.close();
  });
});

/** One token's header and claims under another token's signature: well formed, our issuer, a failing check. */
function forgedSignature(claimsOf: string, signatureOf: string): string {
  const [header, payload] = claimsOf.split('.');
  return `${header}.${payload}.${signatureOf.split('.')[2]}`;
}

describe('rate-limit metrics and the store\'s state', () => {
  /** Waits for a condition the store's reconnection brings about (bounded by the test's timeout). */
  const until = async (condition: () => boolean) => {
    while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
  };

  it('refusals are counted by scope; a store in memory is always up', async () => {
    const t = await appWith({ api: 2 });
    const owner = await t.signup();
    const before = await scrapeMetrics(t);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await t.request({ method: 'GET', url: '/v1/me', token: owner.accessToken })).statusCode);
    expect(statuses).toEqual([200, 200, 429, 429, 429]);
    const after = await scrapeMetrics(t);
    expect(metricSample(after, 'tollgate_rate_limit_refusals_total{scope="route:api"}') - metricSample(before, 'tollgate_rate_limit_refusals_total{scope="route:api"}')).toBe(3);
    expect(metricSample(after, 'tollgate_rate_limit_store_up')).toBe(1);
    expect(after).not.toMatch(/^tollgate_rate_limit_store_failures_total\{/m);
  });

  it('an unreachable store shows: down, every check its fail mode decided counted, and one warning', async () => {
    const { lines, logger } = capturedLogger();
    const t = await startTestApp({ env: { REDIS_URL: 'redis://127.0.0.1:1' }, logger, patch: (file) => { file.rateLimits.scopes.authorize.failMode = 'closed'; } });
    apps.push(t);
    const owner = await t.signup(); // the sign-in bucket: open
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key as string;
    expect((await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).statusCode).toBe(503);
    const text = await scrapeMetrics(t);
    expect(metricSample(text, 'tollgate_rate_limit_store_up')).toBe(0);
    expect(metricSample(text, 'tollgate_rate_limit_store_failures_total{scope="route:auth",fail_mode="open"}')).toBe(1);
    expect(metricSample(text, 'tollgate_rate_limit_store_failures_total{scope="tenant:authorize",fail_mode="closed"}')).toBe(1);
    expect(metricSample(text, 'tollgate_rate_limit_store_failures_total{scope="route:api",fail_mode="open"}')).toBe(1); // creating the key
    expect(lines.filter((l) => l.includes('lost the rate-limit store'))).toHaveLength(1);
  });

  it.skipIf(!REDIS_URL)('a store lost while running, and back: the gauge follows, and each change is logged once', async () => {
    const redis = await cuttableRelay(REDIS_URL!);
    const { lines, logger } = capturedLogger();
    const t = await startTestApp({ env: { REDIS_URL: redis.url }, logger });
    apps.push(t);
    const said = (text: string) => lines.filter((l) => l.includes(text)).length;
    expect(metricSample(await scrapeMetrics(t), 'tollgate_rate_limit_store_up')).toBe(1);
    expect(said('lost the rate-limit store')).toBe(0);
    await redis.cut();
    await until(() => !t.deps.rateLimits.storeUp);
    expect(metricSample(await scrapeMetrics(t), 'tollgate_rate_limit_store_up')).toBe(0);
    await redis.restore();
    await until(() => t.deps.rateLimits.storeUp);
    expect(metricSample(await scrapeMetrics(t), 'tollgate_rate_limit_store_up')).toBe(1);
    // The client retried in between, failing each time: still one line each way.
    expect([said('lost the rate-limit store'), said('reachable again')]).toEqual([1, 1]);
    // Closing the connection on shutdown is no outage.
    await t.deps.rateLimits.close();
    expect(said('lost the rate-limit store')).toBe(1);
  });
});
