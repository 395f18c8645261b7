import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cuttableRelay } from '../../../test/tcp-relay.js';
import { onPostgres, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { startServerProcess, type ServerProcess } from '../../../test/server-process.js';
import { ANSWER_TTL_MS } from './recent-answers.js';

// A meter the batch found full, and a call past its rate limit whose earlier checks the
// batch found passed, are refused from memory for the same kind of request
// (gate/recent-answers.ts): these tests hold that it answers what the batch answered, that
// everything which could change that answer makes the next call go to the database, and
// that nothing is ever admitted from memory.

let t: TestApp;
let op: SignedUp;

beforeAll(async () => {
  t = await startTestApp();
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

const authorize = (token: string, payload: Record<string, unknown> = { operation: 'clustering' }) =>
  t.request({ method: 'POST', url: '/v1/authorize', token, payload });
const admin = (tenantId: string, payload: Record<string, unknown>) =>
  t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload });

/** A tenant with an authorize key whose runs meter is full after `runs` admitted decisions. */
async function fullTenant(runs = 1): Promise<{ owner: SignedUp; key: string }> {
  const owner = await t.signup();
  const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key as string;
  expect((await admin(owner.tenantId, { limits: { runs, concurrentRuns: 100 } })).statusCode).toBe(200);
  for (let i = 0; i < runs; i++) expect((await authorize(key)).json()).toMatchObject({ allowed: true });
  return { owner, key };
}

const paths = () => ({ ...t.deps.gate.paths });

/** The tenant's runs counter, read past row-level security. */
async function runsUsed(tenantId: string): Promise<number> {
  const [counter] = await t.db.asOwner<{ used: string }>("SELECT used FROM usage_counters WHERE tenant_id = $1 AND meter = 'runs'", [tenantId]);
  return Number(counter!.used);
}

/**
 * The tenant's logged refusals of `code`, once the log's buffer is written: the ids of
 * their rows and the calls those rows count (a denial like an earlier one of the same
 * write of the log is counted on its row, gate/log.ts).
 */
async function loggedRefusals(tenantId: string, code: string): Promise<{ ids: string[]; calls: number }> {
  await t.deps.decisionLog.flush();
  const log = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${tenantId}/decisions?allowed=false`, token: op.accessToken })).json();
  const rows = (log.decisions as { id: string; code: string; calls: number }[]).filter((d) => d.code === code);
  return { ids: rows.map((d) => d.id), calls: rows.reduce((sum, d) => sum + d.calls, 0) };
}

/** An admitted decision's runs meter, or what it was refused for. */
function admitted(d: { allowed: boolean; code: string; limits: { meter: string; used: number; limit: number | null }[] }): unknown {
  if (!d.allowed) return d.code;
  const runs = d.limits.find((l) => l.meter === 'runs');
  return runs && { meter: runs.meter, used: runs.used, limit: runs.limit };
}

describe('meters known to be full', () => {
  it('a call for a full meter is refused from memory with the answer the batch gave, and consumes nothing', async () => {
    const { owner, key } = await fullTenant(2);
    const first = await authorize(key);
    const before = paths();
    const again = await authorize(key);
    expect(t.deps.gate.paths.fromMemory - before.fromMemory).toBe(1);
    expect(t.deps.gate.paths.batched - before.batched).toBe(0);
    const strip = (d: Record<string, unknown>) => ({ ...d, decisionId: undefined });
    expect(strip(again.json())).toEqual(strip(first.json()));
    expect(again.json()).toMatchObject({ allowed: false, code: 'LIMIT_EXCEEDED', limits: [{ meter: 'runs', used: 2, limit: 2, remaining: 0 }] });
    expect(again.json().decisionId).not.toBe(first.json().decisionId);
    expect(await runsUsed(owner.tenantId)).toBe(2);
    // Logged like any denial: both counted, the first's row standing for the second unless a flush came between.
    const logged = await loggedRefusals(owner.tenantId, 'LIMIT_EXCEEDED');
    expect(logged.ids).toContain(first.json().decisionId);
    expect(logged.calls).toBe(2);
  });

  it('raising the limit admits the very next call', async () => {
    const { owner, key } = await fullTenant();
    await authorize(key);
    expect((await authorize(key)).json().code).toBe('LIMIT_EXCEEDED');
    await admin(owner.tenantId, { limits: { runs: 2 } });
    expect(admitted((await authorize(key)).json())).toEqual({ meter: 'runs', used: 2, limit: 2 });
  });

  it('a module switched off, a plan change and a suspension answer at once, not the remembered refusal', async () => {
    const { owner, key } = await fullTenant();
    await authorize(key);
    // writer's content_generation: a kind of request of its own.
    const content = { operation: 'content_generation', quantity: { words: 100 } };
    await authorize(key, content);
    expect((await authorize(key, content)).json().code).toBe('LIMIT_EXCEEDED');
    const off = await t.request({ method: 'PUT', url: `/v1/tenants/${owner.tenantId}/modules/writer`, token: owner.accessToken, payload: { enabled: false } });
    expect(off.statusCode, off.body).toBe(200);
    expect((await authorize(key, content)).json().code).toBe('MODULE_DISABLED');
    expect((await authorize(key)).json()).toMatchObject({ code: 'LIMIT_EXCEEDED', tenant: { plan: 'free' } });
    await admin(owner.tenantId, { plan: 'pro' }); // the runs override of 1 stays
    expect((await authorize(key)).json()).toMatchObject({ code: 'LIMIT_EXCEEDED', tenant: { plan: 'pro' } });
    await admin(owner.tenantId, { status: 'suspended' });
    expect((await authorize(key)).json().code).toBe('TENANT_SUSPENDED');
  });

  it('an admission for the tenant (an owner past the limit) makes the next refusal show the new count', async () => {
    const { owner, key } = await fullTenant();
    await authorize(key);
    expect((await authorize(key)).json().limits[0]).toMatchObject({ used: 1, limit: 1 });
    // Owners bypass the runs limit (config meters.runs.bypassRoles).
    expect((await authorize(owner.accessToken)).json()).toMatchObject({ allowed: true, bypass: { reason: 'owner', meter: 'runs' } });
    expect((await authorize(key)).json()).toMatchObject({ code: 'LIMIT_EXCEEDED', limits: [{ meter: 'runs', used: 2, limit: 1 }] });
  });

  it('a change no one announces (written straight to the database) is seen within the memory\'s time to live', async () => {
    const { owner, key } = await fullTenant();
    await authorize(key);
    expect((await authorize(key)).json().code).toBe('LIMIT_EXCEEDED');
    await t.db.asOwner(`UPDATE tenant_overrides SET limits = '{"runs": 5, "concurrentRuns": 100}' WHERE tenant_id = $1`, [owner.tenantId]);
    expect((await authorize(key)).json().code).toBe('LIMIT_EXCEEDED'); // remembered
    t.clock.advance(ANSWER_TTL_MS);
    expect(admitted((await authorize(key)).json())).toEqual({ meter: 'runs', used: 2, limit: 5 });
  });

  it('other kinds of request, other keys and calls with an idempotency key are decided by the database', async () => {
    const { owner, key } = await fullTenant();
    const other = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k2', scopes: ['authorize'] } })).json().key as string;
    await authorize(key);
    await authorize(key); // remembered for (key, clustering, no model)
    const before = paths();
    expect((await authorize(other)).json().code).toBe('LIMIT_EXCEEDED');
    expect((await authorize(key, { operation: 'clustering', model: 'openai/gpt-5' })).json().code).toBe('LIMIT_EXCEEDED');
    const keyed = await authorize(key, { operation: 'clustering', idempotencyKey: 'retry-me' });
    expect(keyed.json().code).toBe('LIMIT_EXCEEDED');
    expect((await authorize(key, { operation: 'clustering', idempotencyKey: 'retry-me' })).json()).toMatchObject({ replayed: true, decisionId: keyed.json().decisionId });
    expect(t.deps.gate.paths.fromMemory - before.fromMemory).toBe(0);
    expect(t.deps.gate.paths.batched - before.batched).toBe(4);
    // …while the remembered kind still is.
    expect((await authorize(key)).json().code).toBe('LIMIT_EXCEEDED');
    expect(t.deps.gate.paths.fromMemory - before.fromMemory).toBe(1);
  });

  it('a refusal remembered just before the period ends is not believed past its end', async () => {
    const { owner, key } = await fullTenant();
    await authorize(key);
    const [sub] = await t.db.asOwner<{ current_period_end: Date }>('SELECT current_period_end FROM subscriptions WHERE tenant_id = $1', [owner.tenantId]);
    const end = new Date(sub!.current_period_end).getTime();
    const today = t.clock.now();
    try {
      t.clock.set(end - ANSWER_TTL_MS / 2);
      expect((await authorize(key)).json().code).toBe('LIMIT_EXCEEDED');
      const before = paths();
      expect((await authorize(key)).json().code).toBe('LIMIT_EXCEEDED');
      expect(t.deps.gate.paths.fromMemory - before.fromMemory).toBe(1);
      // Inside the time to live, but in the next period: decided again, and the new period's meter is empty.
      t.clock.set(end + 1);
      expect(admitted((await authorize(key)).json())).toEqual({ meter: 'runs', used: 1, limit: 1 });
    } finally {
      t.clock.set(today); // the operator's token was issued today
    }
  });
});
/** A tenant (free plan) with an authorize key whose own rate limit is `limit` calls an hour. */
async function rateLimitedKey(limit = 1): Promise<{ owner: SignedUp; key: string }> {
  const owner = await t.signup();
  const created = await t.request({
    method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken,
    payload: { name: 'k', scopes: ['authorize'], rateLimit: { limit, windowSeconds: 3600 } },
  });
  expect(created.statusCode, created.body).toBe(201);
  return { owner, key: created.json().key as string };
}

describe('calls past their rate limit', () => {
  it('are refused from memory as the batch refused them, once the earlier checks are known passed, and consume nothing', async () => {
    const { owner, key } = await rateLimitedKey();
    expect((await authorize(key)).json()).toMatchObject({ allowed: true });
    // Past the memory's time to live (the limiter's own window is an hour): the batch decides.
    t.clock.advance(ANSWER_TTL_MS);
    let before = paths();
    const byBatch = await authorize(key);
    expect(byBatch.json()).toMatchObject({ allowed: false, code: 'RATE_LIMITED', tenant: { id: owner.tenantId, plan: 'free', enterprise: false }, limits: [] });
    expect(t.deps.gate.paths.batched - before.batched).toBe(1);
    before = paths();
    const fromMemory = await authorize(key);
    expect(t.deps.gate.paths.fromMemory - before.fromMemory).toBe(1);
    expect(t.deps.gate.paths.batched - before.batched).toBe(0);
    // What moves with the limiter's clock (retryAfterMs, the bucket's resetMs) is left out.
    const strip = (d: Record<string, unknown>) => ({ ...d, decisionId: undefined, retryAfterMs: undefined, rateLimit: { ...(d.rateLimit as object), resetMs: undefined } });
    expect(strip(fromMemory.json())).toEqual(strip(byBatch.json()));
    expect(fromMemory.json().retryAfterMs).toBeGreaterThan(0);
    expect(fromMemory.headers['retry-after']).toBeDefined();
    expect(fromMemory.json().decisionId).not.toBe(byBatch.json().decisionId);
    expect(await runsUsed(owner.tenantId)).toBe(1);
    const [held] = await t.db.asOwner<{ n: string }>('SELECT count(*) AS n FROM credit_reservations WHERE tenant_id = $1', [owner.tenantId]);
    expect(Number(held!.n)).toBe(1);
    const logged = await loggedRefusals(owner.tenantId, 'RATE_LIMITED');
    expect(logged.ids).toContain(byBatch.json().decisionId);
    expect(logged.calls).toBe(2);
  });

  it('an admitted call is enough to know the checks passed: the next call past the limit needs no statement', async () => {
    const { key } = await rateLimitedKey();
    expect((await authorize(key)).json()).toMatchObject({ allowed: true });
    const before = paths();
    expect((await authorize(key)).json()).toMatchObject({ code: 'RATE_LIMITED', tenant: { plan: 'free' } });
    expect(t.deps.gate.paths.fromMemory - before.fromMemory).toBe(1);
    expect(t.deps.gate.paths.batched - before.batched).toBe(0);
  });

  it('an operation whose checks were not seen passing is decided by the database: refusals that come before the rate limit win', async () => {
    const { key } = await rateLimitedKey();
    expect((await authorize(key)).json()).toMatchObject({ allowed: true });
    // linking is the linker module's, not in the free plan.
    expect((await authorize(key, { operation: 'linking' })).json().code).toBe('NOT_IN_PLAN');
    expect((await authorize(key, { operation: 'linking' })).json().code).toBe('NOT_IN_PLAN');
    expect((await authorize(key)).json().code).toBe('RATE_LIMITED');
  });

  it('a module switched off, a plan change and a suspension answer at once, not the remembered refusal', async () => {
    const { owner, key } = await rateLimitedKey();
    await authorize(key);
    expect((await authorize(key)).json().code).toBe('RATE_LIMITED');
    const off = await t.request({ method: 'PUT', url: `/v1/tenants/${owner.tenantId}/modules/planner`, token: owner.accessToken, payload: { enabled: false } });
    expect(off.statusCode, off.body).toBe(200);
    expect((await authorize(key)).json().code).toBe('MODULE_DISABLED');
    await t.request({ method: 'PUT', url: `/v1/tenants/${owner.tenantId}/modules/planner`, token: owner.accessToken, payload: { enabled: true } });
    expect((await authorize(key)).json()).toMatchObject({ code: 'RATE_LIMITED', tenant: { plan: 'free' } });
    await admin(owner.tenantId, { plan: 'pro' });
    expect((await authorize(key)).json()).toMatchObject({ code: 'RATE_LIMITED', tenant: { plan: 'pro' } });
    expect((await authorize(key)).json()).toMatchObject({ code: 'RATE_LIMITED', tenant: { plan: 'pro' } });
    await admin(owner.tenantId, { status: 'suspended' });
    expect((await authorize(key)).json().code).toBe('TENANT_SUSPENDED');
  });
});

const REDIS_URL = process.env.REDIS_URL || undefined;

describe.skipIf(!REDIS_URL)('a fail-closed rate store that stops answering', () => {
  it('answers RATE_LIMIT_UNAVAILABLE from memory for kinds of request known past the earlier checks, and learns them from the outage; others go to the database', async () => {
    const redis = await cuttableRelay(REDIS_URL!);
    // Buckets under 200 points ask the store on every call (no lease to spend meanwhile).
    const s = await startTestApp({
      env: { REDIS_URL: redis.url },
      patch: (file) => { file.rateLimits.scopes.authorize = { limit: 100, windowSeconds: 60, failMode: 'closed' }; },
    });
    try {
      await s.deps.rateLimits.connected();
      const owner = await s.signup();
      const key = (await s.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key as string;
      const call = (operation: string) => s.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation } });
      expect((await call('clustering')).json()).toMatchObject({ allowed: true });
      await redis.cut();

      let before = { ...s.deps.gate.paths };
      const fromMemory = await call('clustering');
      expect(fromMemory.statusCode).toBe(503);
      expect(fromMemory.json().error.code).toBe('RATE_LIMIT_UNAVAILABLE');
      expect(s.deps.gate.paths.fromMemory - before.fromMemory).toBe(1);
      expect(s.deps.gate.paths.batched - before.batched).toBe(0);

      // Not seen passing: the batch decides, and a refusal that comes before the rate limit wins.
      before = { ...s.deps.gate.paths };
      expect((await call('linking')).json().code).toBe('NOT_IN_PLAN');
      expect(s.deps.gate.paths.batched - before.batched).toBe(1);

      // Past the memory's time to live the batch answers the same outage.
      s.clock.advance(ANSWER_TTL_MS);
      before = { ...s.deps.gate.paths };
      const byBatch = await call('clustering');
      expect(byBatch.statusCode).toBe(503);
      expect(byBatch.json().error.code).toBe('RATE_LIMIT_UNAVAILABLE');
      expect(s.deps.gate.paths.batched - before.batched).toBe(1);
      // ... and the batch's outage answer is learned in turn: the outage costs one statement a second.
      before = { ...s.deps.gate.paths };
      expect((await call('clustering')).statusCode).toBe(503);
      expect(s.deps.gate.paths.fromMemory - before.fromMemory).toBe(1);
      expect(s.deps.gate.paths.batched - before.batched).toBe(0);
      expect(await s.db.asOwner('SELECT 1 FROM credit_reservations WHERE tenant_id = $1', [owner.tenantId])).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!onPostgres)('with a second real server process', () => {
  let server: ServerProcess;
  beforeAll(async () => { server = await startServerProcess(t.db.url!, { TOLLGATE_DB_POOL_SIZE: '3' }); }, 90_000);
  afterAll(async () => { await server?.close(); });

  it('a limit raised in this process admits the next call in the other', async () => {
    const { owner, key } = await fullTenant();
    const there = async () => (await fetch(`${server.url}/v1/authorize`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ operation: 'clustering' }),
    })).json() as Promise<{ allowed: boolean; code: string; limits: { meter: string; used: number; limit: number | null }[] }>;
    // Refused there twice: by its batch, then from its memory.
    expect((await there()).code).toBe('LIMIT_EXCEEDED');
    expect((await there()).code).toBe('LIMIT_EXCEEDED');
    await admin(owner.tenantId, { limits: { runs: 2 } });
    expect(admitted(await there())).toEqual({ meter: 'runs', used: 2, limit: 2 });
  });
});
