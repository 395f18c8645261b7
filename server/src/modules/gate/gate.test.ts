import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../config-schema.js';
import { metricSample, scrapeMetrics, snapshot, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { inSystem } from '../../db/scope.js';
import { ManualClock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { DecisionLog } from './log.js';
import { claimCountWrite, insertLog } from './repo.js';

let t: TestApp;
let op: SignedUp;

beforeAll(async () => {
  t = await startTestApp({ patch: (file: ConfigFile) => { file.plans.pro!.models = ['bedrock/*']; } });
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

const authorize = (token: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
  t.request({ method: 'POST', url: '/v1/authorize', token, payload, headers });

async function keyOf(owner: SignedUp, body: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'backend', scopes: ['authorize'], ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

const admin = (tenantId: string, payload: Record<string, unknown>) =>
  t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload });

/** Everything a decision may consume: counters, leases, credits, ledger, usage log, reservations. */
async function consumption(): Promise<Record<string, string>> {
  const all = await snapshot(t.db);
  const keep = ['usage_counters', 'usage_events', 'run_leases', 'run_slots', 'credit_accounts', 'credit_ledger', 'credit_reservations', 'audit_log'];
  return Object.fromEntries(Object.entries(all).filter(([table]) => keep.includes(table)));
}

describe('POST /v1/authorize', () => {
  it('answers the full decision of API.md and reserves the cost', async () => {
    const owner = await t.signup();
    const { key, id } = await keyOf(owner);
    const res = await authorize(key, { operation: 'content_generation', module: 'writer', quantity: { words: 1200 }, idempotencyKey: 'run-8f2c' });
    expect(res.statusCode).toBe(200);
    const d = res.json();
    expect(d).toMatchObject({
      allowed: true, code: 'OK',
      tenant: { id: owner.tenantId, plan: 'free', enterprise: false },
      principal: { type: 'api_key', id, userId: null, role: null },
      limits: [{ meter: 'runs', used: 1, limit: 10, remaining: 9 }, { meter: 'concurrentRuns', used: 1, limit: 2, remaining: 1 }],
      credits: { balance: 100, reserved: 12, available: 88 },
      reservation: { credits: 12 },
      bypass: null,
      route: { provider: 'default', name: 'platform', region: null, billing: 'platform' },
    });
    expect(d.decisionId).toMatch(/^dec_/);
    expect(d.reservation.id).toMatch(/^res_/);
    expect(new Date(d.limits[0].resetsAt).getTime()).toBeGreaterThan(t.clock.now().getTime());
    expect(new Date(d.reservation.expiresAt).getTime()).toBeGreaterThan(t.clock.now().getTime());
  });

  it('keeps on the reservation who opened it, on which meter and through which route (and no request fingerprint: 0022)', async () => {
    const owner = await t.signup();
    const { key, id } = await keyOf(owner);
    const d = (await authorize(key, { operation: 'clustering' })).json();
    const rows = await t.db.asOwner(`SELECT actor_type, actor_id, role, meter, bypass, route, decision_id, request_hash FROM credit_reservations WHERE tenant_id = $1 AND id = $2`,
      [owner.tenantId, d.reservation.id]);
    expect(rows).toEqual([{ actor_type: 'api_key', actor_id: id, role: null, meter: 'runs', bypass: false, route: d.route, decision_id: d.decisionId, request_hash: null }]);
  });

  it('a legacy alias resolves to its operation, and settle charges the actual quantity and frees the run slot', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const first = (await authorize(key, { operation: 'content', quantity: { words: 1000 } })).json();
    expect(first.operation).toEqual({ name: 'content_generation', module: 'writer', credits: 10 });
    const second = (await authorize(key, { operation: 'clustering' })).json();
    expect(second.allowed).toBe(true);
    const third = (await authorize(key, { operation: 'clustering' })).json();
    expect(third).toMatchObject({ allowed: false, code: 'LIMIT_EXCEEDED' });
    expect(third.limits.at(-1)).toMatchObject({ meter: 'concurrentRuns', used: 2, limit: 2 });
    const settled = await t.request({ method: 'POST', url: `/v1/reservations/${first.reservation.id}/settle`, token: key, payload: { quantity: { words: 400 } } });
    expect(settled.statusCode, settled.body).toBe(200);
    expect(settled.json().reservation).toMatchObject({ status: 'settled', charged: 4 });
    expect((await authorize(key, { operation: 'clustering' })).json().allowed).toBe(true);
    const credits = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json();
    expect(credits).toEqual({ balance: 96, reserved: 20, available: 76 });
  });

  describe('every denial code is reachable and consumes nothing', () => {
    const cases: { name: string; code: string; refusedBy: Record<string, string>; setup: (owner: SignedUp) => Promise<Record<string, unknown>> }[] = [
      { name: 'suspended tenant', code: 'TENANT_SUSPENDED', refusedBy: { check: 'tenant' }, setup: async (o) => { await admin(o.tenantId, { status: 'suspended' }); return { operation: 'clustering' }; } },
      { name: 'closed tenant', code: 'TENANT_CLOSED', refusedBy: { check: 'tenant' }, setup: async (o) => { await admin(o.tenantId, { status: 'closed' }); return { operation: 'clustering' }; } },
      {
        name: 'canceled subscription', code: 'PAYMENT_REQUIRED', refusedBy: { check: 'subscription' }, setup: async (o) => {
          await t.db.asOwner("UPDATE subscriptions SET status = 'canceled' WHERE tenant_id = $1", [o.tenantId]);
          await t.deps.changes.publish({ kind: 'tenant', id: o.tenantId });
          return { operation: 'clustering' };
        },
      },
      {
        name: 'module switched off', code: 'MODULE_DISABLED', refusedBy: { check: 'module', module: 'writer' }, setup: async (o) => {
          await t.request({ method: 'PUT', url: `/v1/tenants/${o.tenantId}/modules/writer`, token: o.accessToken, payload: { enabled: false } });
          return { operation: 'content_generation', quantity: { words: 100 } };
        },
      },
      { name: 'module not in the plan', code: 'NOT_IN_PLAN', refusedBy: { check: 'plan', module: 'linker' }, setup: async () => ({ operation: 'linking' }) },
      {
        name: 'model not in the plan', code: 'NOT_IN_PLAN', refusedBy: { check: 'model', model: 'openai/gpt-5' }, setup: async (o) => {
          await admin(o.tenantId, { plan: 'pro' });
          return { operation: 'clustering', model: 'openai/gpt-5' };
        },
      },
      {
        name: 'runs limit reached', code: 'LIMIT_EXCEEDED', refusedBy: { check: 'limit', meter: 'runs' }, setup: async (o) => {
          await admin(o.tenantId, { limits: { runs: 0 } });
          return { operation: 'clustering' };
        },
      },
      { name: 'credits short', code: 'INSUFFICIENT_CREDITS', refusedBy: { check: 'credits' }, setup: async () => ({ operation: 'content_generation', quantity: { words: 20_000 } }) },
    ];

    for (const c of cases) {
      it(`${c.code}: ${c.name}`, async () => {
        const owner = await t.signup();
        const { key } = await keyOf(owner);
        const payload = await c.setup(owner);
        const before = await consumption();
        const res = await authorize(key, { ...payload, idempotencyKey: `deny-${c.code}` });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toMatchObject({ allowed: false, code: c.code, reservation: null });
        // What refused it, in a field to branch on and in words.
        expect(res.json().refusedBy).toEqual(c.refusedBy);
        expect(res.json().message).toMatch(/\w+/);
        expect(await consumption()).toEqual(before);
      });
    }

    it('RATE_LIMITED: the tenant bucket, with retryAfterMs and Retry-After; nothing consumed', async () => {
      const limited = await startTestApp({ patch: (file) => { file.rateLimits.scopes.authorize = { limit: 2, windowSeconds: 60, failMode: 'closed' }; } });
      try {
        const owner = await limited.signup();
        const key = (await limited.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key;
        const call = () => limited.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } });
        expect((await call()).json().allowed).toBe(true);
        await call();
        const before = await snapshot(limited.db);
        const res = await call();
        expect(res.json()).toMatchObject({ allowed: false, code: 'RATE_LIMITED', refusedBy: { check: 'rate', bucket: 'tenant:authorize' }, rateLimit: { limit: 2, remaining: 0 } });
        expect(res.json().retryAfterMs).toBeGreaterThan(0);
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        // The documented RateLimit-* headers, as every other rate-limited answer carries them.
        expect([res.headers['ratelimit-limit'], res.headers['ratelimit-remaining']]).toEqual(['2', '0']);
        expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
        await limited.deps.decisionLog.flush();
        const after = await snapshot(limited.db);
        // The denial is logged, and counted on its day with the log's rows (usage summaries),
        // as are the allowed decisions before it (their write's id kept): nothing else changes.
        delete before.decision_log; delete after.decision_log;
        delete before.usage_days; delete after.usage_days;
        delete before.decision_count_flushes; delete after.decision_count_flushes;
        expect(after).toEqual(before);
      } finally {
        await limited.close();
      }
    });
  });

  describe('a refusal for the tenant\'s standing names the tenant\'s plan, as API.md\'s decision does', () => {
    const standings: [string, (app: TestApp, tenantId: string, operator: SignedUp) => Promise<void>][] = [
      ['TENANT_SUSPENDED', async (app, tenantId, operator) => { await patchTenant(app, operator, tenantId, { status: 'suspended' }); }],
      ['TENANT_CLOSED', async (app, tenantId, operator) => { await patchTenant(app, operator, tenantId, { status: 'closed' }); }],
      ['PAYMENT_REQUIRED', async (app, tenantId) => {
        await app.db.asOwner("UPDATE subscriptions SET status = 'canceled' WHERE tenant_id = $1", [tenantId]);
        await app.deps.changes.publish({ kind: 'tenant', id: tenantId });
      }],
    ];
    const patchTenant = async (app: TestApp, operator: SignedUp, tenantId: string, payload: Record<string, unknown>) => {
      const res = await app.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: operator.accessToken, payload });
      expect(res.statusCode, res.body).toBe(200);
    };
    /** Each standing on a tenant of the pro plan (not the default one), asked with an API key and answered again as a replay. */
    async function refusalsOn(app: TestApp, operator: SignedUp): Promise<void> {
      for (const [code, setup] of standings) {
        const owner = await app.signup();
        await patchTenant(app, operator, owner.tenantId, { plan: 'pro' });
        const key = (await app.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key;
        // Its state cached as the pro tenant it is, allowed, before the standing changes.
        expect((await app.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).json().tenant.plan).toBe('pro');
        await setup(app, owner.tenantId, operator);
        for (const round of ['first', 'replay']) {
          const res = await app.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering', idempotencyKey: `standing-${code}` } });
          expect([code, round, res.statusCode]).toEqual([code, round, 200]);
          expect(res.json(), `${code} ${round}`).toMatchObject({ allowed: false, code, tenant: { id: owner.tenantId, plan: 'pro', enterprise: false } });
        }
      }
    }

    it('on the group-commit path', () => refusalsOn(t, op));

    it('on the reference path (groupCommit: false)', async () => {
      const alone = await startTestApp({ patch: (file) => { file.metering.groupCommit = false; } });
      try {
        await refusalsOn(alone, await alone.operator());
      } finally {
        await alone.close();
      }
    });
  });

  it('an unreachable rate-limit store on the fail-closed authorize scope is a 503, not a decision a retry would replay', async () => {
    const dead = await startTestApp({ env: { REDIS_URL: 'redis://127.0.0.1:1' }, patch: (file) => { file.rateLimits.scopes.api.failMode = 'open'; file.rateLimits.scopes.auth.failMode = 'open'; } });
    try {
      const owner = await dead.signup();
      const key = (await dead.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key;
      const res = await dead.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering', idempotencyKey: 'outage' } });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('RATE_LIMIT_UNAVAILABLE');
      const [replays] = await dead.db.asOwner<{ n: string }>('SELECT count(*) AS n FROM decision_replays');
      expect(Number(replays!.n)).toBe(0);
    } finally {
      await dead.close();
    }
  });

  it('a limit raised while a refusal is on its way back is not answered from memory afterwards', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    expect((await admin(owner.tenantId, { limits: { runs: 1 } })).statusCode).toBe(200);
    expect((await authorize(key, { operation: 'clustering' })).json().code).toBe('OK');
    // The next call is refused by the statement; the limit is raised before its answer is back.
    const gate = t.deps.gate as unknown as { submit: (entry: unknown) => Promise<unknown> };
    const submit = gate.submit.bind(gate);
    gate.submit = async (entry) => {
      const answer = await submit(entry);
      gate.submit = submit;
      expect((await admin(owner.tenantId, { limits: { runs: 100 } })).statusCode).toBe(200);
      return answer;
    };
    expect((await authorize(key, { operation: 'clustering' })).json().code).toBe('LIMIT_EXCEEDED');
    const next = (await authorize(key, { operation: 'clustering' })).json();
    expect(next).toMatchObject({ code: 'OK', limits: expect.arrayContaining([expect.objectContaining({ meter: 'runs', used: 2, limit: 100 })]) });
  });

  it('an API key\'s own rate limit applies on top of the tenant\'s', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner, { rateLimit: { limit: 1, windowSeconds: 60 } });
    const other = await keyOf(owner);
    expect((await authorize(key, { operation: 'clustering' })).json().allowed).toBe(true);
    expect((await authorize(key, { operation: 'clustering' })).json().code).toBe('RATE_LIMITED');
    expect((await authorize(other.key, { operation: 'clustering' })).json().allowed).toBe(true);
    // the same bucket governs the key on every other route it calls
    const read = await keyOf(owner, { scopes: ['read'], rateLimit: { limit: 1, windowSeconds: 60 } });
    const usage = () => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage`, token: read.key });
    expect((await usage()).statusCode).toBe(200);
    expect((await usage()).statusCode).toBe(429);
  });

  it('a key refused by its own rate limit spends none of the tenant\'s: the tenant\'s other keys go on', async () => {
    const limited = await startTestApp({ patch: (file) => { file.rateLimits.scopes.authorize = { limit: 10, windowSeconds: 60, failMode: 'closed' }; } });
    try {
      const owner = await limited.signup();
      const keyOf = async (rateLimit?: { limit: number; windowSeconds: number }) => (await limited.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize', 'read'], ...(rateLimit ? { rateLimit } : {}) } })).json().key as string;
      const [capped, other] = [await keyOf({ limit: 2, windowSeconds: 60 }), await keyOf()];
      const call = async (key: string) => (await limited.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).json();
      // Released by the owner (a key's own bucket governs each route it calls), so that no run slot is held.
      const release = async (answer: { reservation?: { id: string } | null }) => {
        if (answer.reservation) await limited.request({ method: 'POST', url: `/v1/reservations/${answer.reservation.id}/release`, token: owner.accessToken });
      };
      const codes: string[] = [];
      for (let i = 0; i < 12; i++) {
        const answer = await call(capped);
        codes.push(answer.code);
        await release(answer);
      }
      expect(codes).toEqual(['OK', 'OK', ...Array(10).fill('RATE_LIMITED')]);
      // The tenant's bucket has admitted two of its ten: the other key has eight left.
      const others: string[] = [];
      for (let i = 0; i < 8; i++) {
        const answer = await call(other);
        others.push(answer.code);
        await release(answer);
      }
      expect(others).toEqual(Array(8).fill('OK'));
      expect((await call(other)).refusedBy).toEqual({ check: 'rate', bucket: 'tenant:authorize' });
    } finally {
      await limited.close();
    }
  });

  it('a call refused for its concurrent-run slots reports what is used, as GET …/usage does, and names the meter', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    await admin(owner.tenantId, { limits: { concurrentRuns: 1 } });
    expect((await authorize(key, { operation: 'clustering' })).json().allowed).toBe(true);
    const refused = (await authorize(key, { operation: 'clustering' })).json();
    expect(refused).toMatchObject({ code: 'LIMIT_EXCEEDED', refusedBy: { check: 'limit', meter: 'concurrentRuns' } });
    const usage = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage`, token: owner.accessToken })).json();
    const runs = usage.usage.find((u: { meter: string }) => u.meter === 'runs');
    expect(refused.limits).toEqual([
      { meter: 'runs', used: runs.used, limit: runs.limit, remaining: runs.remaining, resetsAt: runs.resetsAt },
      { meter: 'concurrentRuns', used: usage.concurrentRuns.active, limit: 1, remaining: 0, resetsAt: null },
    ]);
    expect(runs.used).toBe(1);
  });

  it('holds past their expiry do not refuse a call for credits before the sweeper comes: they expire as it would expire them, then the call is decided', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const big = (await authorize(key, { operation: 'content_generation', quantity: { words: 9000 }, idempotencyKey: 'expiring-big' })).json();
    const small = (await authorize(key, { operation: 'clustering', idempotencyKey: 'expiring-small' })).json();
    expect(small).toMatchObject({ allowed: true, credits: { balance: 100, reserved: 100, available: 0 } });
    t.clock.advance(601_000); // both past expiresAt (600 s); the sweeper has not run
    const after = (await authorize(key, { operation: 'clustering' })).json();
    expect(after, JSON.stringify(after)).toMatchObject({ allowed: true, code: 'OK', credits: { balance: 100, reserved: 10, available: 90 } });
    // As the sweeper leaves them: expired, nothing charged, their slots free, the runs' usage records written, no ledger entry.
    const rows = await t.db.asOwner<{ id: string; status: string; charged: string }>('SELECT id, status, charged FROM credit_reservations WHERE tenant_id = $1 ORDER BY created_at, amount DESC', [owner.tenantId]);
    expect(rows.map((r) => [r.id, r.status, Number(r.charged)])).toEqual([[big.reservation.id, 'expired', 0], [small.reservation.id, 'expired', 0], [after.reservation.id, 'held', 0]]);
    const records = await t.db.asOwner<{ reservation_id: string; outcome: string; reserved: string; credits: string; idempotency_key: string }>(
      'SELECT reservation_id, outcome, reserved, credits, idempotency_key FROM usage_records WHERE tenant_id = $1 ORDER BY reserved DESC', [owner.tenantId]);
    expect(records.map((r) => [r.reservation_id, r.outcome, Number(r.reserved), Number(r.credits), r.idempotency_key])).toEqual([
      [big.reservation.id, 'expired', 90, 0, 'expiring-big'], [small.reservation.id, 'expired', 10, 0, 'expiring-small'],
    ]);
    const [slots] = await t.db.asOwner<{ held: string; slots: string; ledger: string }>(`SELECT (SELECT held FROM run_leases WHERE tenant_id = $1) AS held,
      (SELECT count(*) FROM run_slots WHERE tenant_id = $1) AS slots, (SELECT count(*) FROM credit_ledger WHERE tenant_id = $1) AS ledger`, [owner.tenantId]);
    expect([Number(slots!.held), Number(slots!.slots), Number(slots!.ledger)]).toEqual([1, 1, 1]);
    expect(after.limits.find((l: { meter: string }) => l.meter === 'concurrentRuns')).toMatchObject({ used: 1 });
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json()).toEqual({ balance: 100, reserved: 10, available: 90 });
    // Nothing is left for the sweeper; settling one late is the expiry's answer.
    expect((await t.request({ method: 'POST', url: `/v1/reservations/${big.reservation.id}/settle`, token: key })).json().error.code).toBe('RESERVATION_EXPIRED');
  });

  it('runs opened while the tenant had no concurrent-run limit count against the one a plan or an override gives it', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const run = async () => (await authorize(key, { operation: 'image_prompt_extraction' })).json();
    const concurrent = async () => (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage`, token: owner.accessToken })).json().concurrentRuns;
    const full = { allowed: false, code: 'LIMIT_EXCEEDED', refusedBy: { check: 'limit', meter: 'concurrentRuns' } };
    expect((await admin(owner.tenantId, { plan: 'enterprise' })).statusCode).toBe(200);
    const open: { allowed: boolean; reservation: { id: string } }[] = [];
    for (let i = 0; i < 5; i++) open.push(await run());
    expect(open.map((d) => d.allowed)).toEqual([true, true, true, true, true]);
    // Moved to a plan of 2 concurrent runs: the 5 still open count, and no sixth is admitted.
    expect((await admin(owner.tenantId, { plan: 'free' })).statusCode).toBe(200);
    expect(await run()).toMatchObject(full);
    expect(await concurrent()).toEqual({ active: 5, limit: 2 });
    for (const d of open.splice(0, 4)) {
      expect((await t.request({ method: 'POST', url: `/v1/reservations/${d.reservation.id}/release`, token: key })).statusCode).toBe(200);
    }
    expect((await run()).allowed).toBe(true);
    expect(await run()).toMatchObject(full);
    // Without a limit again, 2 more; then an operator's override sets one of 3: all 4 open count.
    expect((await admin(owner.tenantId, { plan: 'enterprise' })).statusCode).toBe(200);
    expect([(await run()).allowed, (await run()).allowed]).toEqual([true, true]);
    expect((await admin(owner.tenantId, { limits: { concurrentRuns: 3 } })).statusCode).toBe(200);
    expect(await run()).toMatchObject(full);
    expect(await concurrent()).toEqual({ active: 4, limit: 3 });
    const [count] = await t.db.asOwner<{ held: string; slots: string }>(`SELECT (SELECT held FROM run_leases WHERE tenant_id = $1) AS held,
      (SELECT count(*) FROM run_slots WHERE tenant_id = $1) AS slots`, [owner.tenantId]);
    expect([Number(count!.held), Number(count!.slots)]).toEqual([4, 4]);
  });

  it('a key short of a scope is told which scope it needs', async () => {
    const owner = await t.signup();
    const readOnly = await keyOf(owner, { scopes: ['read'] });
    const noAuthorize = await authorize(readOnly.key, { operation: 'clustering' });
    expect([noAuthorize.statusCode, noAuthorize.json().error.code]).toEqual([403, 'INSUFFICIENT_SCOPE']);
    expect(noAuthorize.json().error.message).toContain('authorize');
    const manage = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: readOnly.key, payload: { name: 'x' } });
    expect([manage.statusCode, manage.json().error.code]).toEqual([403, 'INSUFFICIENT_SCOPE']);
    expect(manage.json().error.message).toContain('manage');
  });

  it('an API key\'s usage cap limits the runs made with it', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner, { usageCap: 1 });
    const first = (await authorize(key, { operation: 'clustering' })).json();
    await t.request({ method: 'POST', url: `/v1/reservations/${first.reservation.id}/release`, token: key });
    expect((await authorize(key, { operation: 'clustering' })).json().code).toBe('LIMIT_EXCEEDED');
  });

  it('owner bypass: an owner passes a full runs meter with bypass set; a member and an API key are denied', async () => {
    const owner = await t.signup();
    const member = await t.signup();
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: member.email, role: 'member' } })).json();
    await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: member.accessToken });
    await admin(owner.tenantId, { limits: { runs: 1, concurrentRuns: 100 } });
    const { key } = await keyOf(owner);
    expect((await authorize(key, { operation: 'image_generation' })).json().allowed).toBe(true);
    expect((await authorize(key, { operation: 'image_generation' })).json().code).toBe('LIMIT_EXCEEDED');
    expect((await authorize(member.accessToken, { operation: 'image_generation', tenantId: owner.tenantId })).json().code).toBe('LIMIT_EXCEEDED');
    const bypassed = (await authorize(owner.accessToken, { operation: 'image_generation' })).json();
    expect(bypassed).toMatchObject({ allowed: true, bypass: { reason: 'owner', meter: 'runs' }, principal: { type: 'user', role: 'owner' } });
    const events = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage/events`, token: owner.accessToken })).json().events;
    expect(events.filter((e: { bypass: boolean }) => e.bypass)).toHaveLength(1);
    // The role is the membership's now, not the one the token was issued under: demoted, the
    // same token is refused; the member made owner passes.
    const role = (userId: string, to: string) => t.request({ method: 'PATCH', url: `/v1/tenants/${owner.tenantId}/members/${userId}`, token: owner.accessToken, payload: { role: to } });
    expect((await role(member.userId, 'owner')).statusCode).toBe(200);
    expect((await role(owner.userId, 'member')).statusCode).toBe(200);
    expect((await authorize(owner.accessToken, { operation: 'image_generation' })).json()).toMatchObject({ allowed: false, code: 'LIMIT_EXCEEDED', bypass: null, principal: { role: 'member' } });
    expect((await authorize(member.accessToken, { operation: 'image_generation', tenantId: owner.tenantId })).json()).toMatchObject({ allowed: true, bypass: { reason: 'owner', meter: 'runs' } });
  });

  it('the enterprise flag the operator sets shows on the decision, and goes with its removal', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    expect((await authorize(key, { operation: 'clustering' })).json().tenant).toEqual({ id: owner.tenantId, plan: 'free', enterprise: false });
    await admin(owner.tenantId, { enterprise: true });
    expect((await authorize(key, { operation: 'clustering' })).json().tenant).toEqual({ id: owner.tenantId, plan: 'free', enterprise: true });
    await admin(owner.tenantId, { enterprise: null });
    expect((await authorize(key, { operation: 'clustering' })).json().tenant).toEqual({ id: owner.tenantId, plan: 'free', enterprise: false });
  });

  it('a service key acts on behalf of a member with the role from the database; a tenant key cannot', async () => {
    const owner = await t.signup();
    const svc = (await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: op.accessToken, payload: { name: 'backend' } })).json();
    const res = (await authorize(svc.key, { operation: 'clustering', onBehalfOf: { tenantId: owner.tenantId, userId: owner.userId } })).json();
    expect(res).toMatchObject({ allowed: true, principal: { type: 'service', userId: owner.userId, role: 'owner' } });
    const stranger = await t.signup();
    const notMember = await authorize(svc.key, { operation: 'clustering', onBehalfOf: { tenantId: owner.tenantId, userId: stranger.userId } });
    expect(notMember.statusCode).toBe(403);
    const { key } = await keyOf(owner);
    const tenantKey = await authorize(key, { operation: 'clustering', onBehalfOf: { tenantId: owner.tenantId, userId: owner.userId } });
    expect(tenantKey.statusCode).toBe(403);
    const noBehalf = await authorize(svc.key, { operation: 'clustering' });
    expect(noBehalf.statusCode).toBe(403);
  });

  it('a bypass made through a service key for an owner is audited naming the member it acted for', async () => {
    const owner = await t.signup();
    const svc = (await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: op.accessToken, payload: { name: 'backend' } })).json();
    await admin(owner.tenantId, { limits: { runs: 1, concurrentRuns: 100 } });
    const { key } = await keyOf(owner);
    expect((await authorize(key, { operation: 'image_generation' })).json().allowed).toBe(true);
    const bypassed = (await authorize(svc.key, { operation: 'image_generation', onBehalfOf: { tenantId: owner.tenantId, userId: owner.userId } })).json();
    expect(bypassed).toMatchObject({ allowed: true, bypass: { reason: 'owner', meter: 'runs' }, principal: { type: 'service', userId: owner.userId } });
    const audit = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/audit`, token: owner.accessToken })).json();
    expect(audit.entries.filter((e: { action: string }) => e.action === 'limit.bypass')).toEqual([
      expect.objectContaining({ actor: expect.objectContaining({ type: 'service', id: svc.id }), data: expect.objectContaining({ role: 'owner', onBehalfOf: owner.userId }) }),
    ]);
  });

  it('a user picks one of their tenants; another tenant is the 404 of a missing one', async () => {
    const owner = await t.signup();
    const outsider = await t.signup();
    expect((await authorize(owner.accessToken, { operation: 'clustering', tenantId: owner.tenantId })).json().tenant.id).toBe(owner.tenantId);
    expect((await authorize(owner.accessToken, { operation: 'clustering' }, { 'tollgate-tenant': owner.tenantId })).json().allowed).toBe(true);
    const foreign = await authorize(outsider.accessToken, { operation: 'clustering', tenantId: owner.tenantId });
    const missing = await authorize(outsider.accessToken, { operation: 'clustering', tenantId: 'tnt_01ZZZZZZZZZZZZZZZZZZZZZZZZ' });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe(missing.json().error.code);
  });

  it('a key without the authorize scope, an unknown operation or a module mismatch is a 4xx, not a decision', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner, { scopes: ['read'] });
    expect((await authorize(key, { operation: 'clustering' })).statusCode).toBe(403);
    const good = (await keyOf(owner)).key;
    expect((await authorize(good, { operation: 'teleport' })).json().error.code).toBe('OPERATION_NOT_FOUND');
    expect((await authorize(good, { operation: 'clustering', module: 'writer' })).json().error.code).toBe('MODULE_MISMATCH');
    expect((await authorize('tg_not-a-key', { operation: 'clustering' })).statusCode).toBe(401);
  });

  it('a quantity in a unit the operation is not priced by is a 400 that holds nothing, not a run at the minimum', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const before = await consumption();
    const misspelt = await authorize(key, { operation: 'content_generation', quantity: { word_count: 5000 } });
    expect([misspelt.statusCode, misspelt.json().error.code]).toEqual([400, 'QUANTITY_NOT_PRICED']);
    const preview = await t.request({ method: 'POST', url: '/v1/costs/preview', token: key, payload: { operation: 'content_generation', quantity: { word_count: 5000 } } });
    expect([preview.statusCode, preview.json().error.code]).toEqual([400, 'QUANTITY_NOT_PRICED']);
    expect(await consumption()).toEqual(before);
    // Settling names the actual quantity: the same rule, and the reservation stays held.
    const held = (await authorize(key, { operation: 'content_generation', quantity: { words: 5000 } })).json();
    expect(held.reservation.credits).toBe(50);
    const settle = await t.request({ method: 'POST', url: `/v1/reservations/${held.reservation.id}/settle`, token: key, payload: { quantity: { word_count: 4000 } } });
    expect([settle.statusCode, settle.json().error.code]).toEqual([400, 'QUANTITY_NOT_PRICED']);
    const settled = await t.request({ method: 'POST', url: `/v1/reservations/${held.reservation.id}/settle`, token: key, payload: { quantity: { words: 4000 } } });
    expect(settled.json().reservation).toMatchObject({ status: 'settled', charged: 40 });
  });
});


describe('the decision log', () => {
  it('records allowed and denied decisions for operators, in batches', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const allowed = (await authorize(key, { operation: 'clustering', idempotencyKey: 'logged' })).json();
    await authorize(key, { operation: 'linking' });
    await t.deps.decisionLog.flush();
    const res = await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/decisions`, token: op.accessToken });
    expect(res.statusCode).toBe(200);
    expect(res.json().decisions.map((d: { code: string }) => d.code).sort()).toEqual(['NOT_IN_PLAN', 'OK']);
    // Every field survives the batched write.
    expect(res.json().decisions.find((d: { code: string }) => d.code === 'OK')).toEqual({
      id: allowed.decisionId, allowed: true, code: 'OK', operation: 'clustering', module: 'planner', model: null, credits: allowed.reservation.credits,
      reservationId: allowed.reservation.id, principal: { type: 'api_key', id: allowed.principal.id, userId: null }, bypass: null,
      idempotencyKey: 'logged', replayed: false, requestId: expect.any(String), createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), calls: 1,
    });
    const denied = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/decisions?allowed=false`, token: op.accessToken })).json();
    expect(denied.decisions).toHaveLength(1);
    expect((await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/decisions`, token: owner.accessToken })).statusCode).toBe(403);
  });

  it('an allowed decision is recorded by its reservation, on the list at once; the list pages through it and the log as one', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const list = async (query: string) => (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/decisions${query}`, token: op.accessToken })).json();
    // A row from before 0019: an allowed decision the log recorded.
    await inSystem(t.deps.database.db, (tx) => insertLog(tx, [{
      tenantId: owner.tenantId, id: 'dec_00000000000000000000000000', principalType: 'api_key', principalId: 'key_old', userId: null, operation: 'clustering',
      module: 'planner', model: null, allowed: true, code: 'OK', credits: 1, reservationId: 'res_old', bypass: null, idempotencyKey: null, replayed: false,
      requestId: null, createdAt: new Date('2026-01-01T00:00:00.000Z'), calls: 1,
    }]));
    const first = (await authorize(key, { operation: 'clustering' })).json();
    // Before any flush of the log: the record is the reservation, in the decision's commit.
    expect((await list('?allowed=true')).decisions.map((d: { id: string }) => d.id)).toEqual([first.decisionId, 'dec_00000000000000000000000000']);
    expect((await list('')).decisions[0]).toEqual({
      id: first.decisionId, allowed: true, code: 'OK', operation: 'clustering', module: 'planner', model: null, credits: first.reservation.credits,
      reservationId: first.reservation.id, principal: { type: 'api_key', id: first.principal.id, userId: null }, bypass: null,
      idempotencyKey: null, replayed: false, requestId: expect.any(String), createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), calls: 1,
    });
    const denied = (await authorize(key, { operation: 'linking' })).json();
    const second = (await authorize(owner.accessToken, { operation: 'clustering', idempotencyKey: 'kept' })).json();
    // Ties: admissions of one batch share its instant, and log rows at that very instant go
    // on either side of them by id.
    // The free plan holds two concurrent runs: room for three more.
    expect((await admin(owner.tenantId, { limits: { concurrentRuns: 10 } })).statusCode).toBe(200);
    const answers = (await Promise.all([1, 2, 3].map(() => authorize(key, { operation: 'clustering' })))).map((r) => r.json());
    expect(answers.map((a) => a.code)).toEqual(['OK', 'OK', 'OK']);
    const batch = answers.map((a) => a.decisionId as string);
    const shared = (await t.db.asOwner<{ created_at: Date }>('SELECT created_at FROM credit_reservations WHERE decision_id = $1', [batch[0]]))[0]!.created_at;
    const tied = ['dec_00000000000000000000000001', 'dec_ZZZZZZZZZZZZZZZZZZZZZZZZZZ'];
    await inSystem(t.deps.database.db, (tx) => insertLog(tx, tied.map((id) => ({
      tenantId: owner.tenantId, id, principalType: 'api_key', principalId: `key_${id}`, userId: null, operation: 'linking', module: 'linker', model: null,
      allowed: false, code: 'NOT_IN_PLAN', credits: null, reservationId: null, bypass: null, idempotencyKey: null, replayed: false, requestId: null,
      createdAt: new Date(shared), calls: 1,
    }))));
    await t.deps.decisionLog.flush();
    const all = (await list('')).decisions as { id: string; createdAt: string; allowed: boolean; principal: unknown; idempotencyKey: string | null }[];
    expect(all.map((d) => d.id).sort()).toEqual([first.decisionId, denied.decisionId, second.decisionId, ...batch, ...tied, 'dec_00000000000000000000000000'].sort());
    expect(all.filter((d) => d.createdAt === new Date(shared).toISOString()).length).toBeGreaterThanOrEqual(3);
    const order = (a: { createdAt: string; id: string }, b: { createdAt: string; id: string }) => (b.createdAt.localeCompare(a.createdAt) || (a.id < b.id ? 1 : -1));
    expect([...all].sort(order)).toEqual(all);
    expect(all.find((d) => d.id === second.decisionId)).toMatchObject({ principal: { type: 'user', id: owner.userId, userId: owner.userId }, idempotencyKey: 'kept' });
    // Page by page, one at a time: the same decisions in the same order, none twice.
    const paged: string[] = [];
    for (let cursor = ''; ;) {
      const page = await list(`?limit=1${cursor}`);
      paged.push(...page.decisions.map((d: { id: string }) => d.id));
      if (!page.nextCursor) break;
      cursor = `&cursor=${encodeURIComponent(page.nextCursor)}`;
    }
    expect(paged).toEqual(all.map((d) => d.id));
    expect((await list('?allowed=false')).decisions.map((d: { id: string }) => d.id).sort()).toEqual([denied.decisionId, ...tied].sort());
    const [rows] = await t.db.asOwner<{ n: number }>('SELECT count(*)::int AS n FROM decision_log WHERE tenant_id = $1 AND allowed', [owner.tenantId]);
    expect(rows!.n).toBe(1);
    // The day counts have every one of them: the allowed decisions' counts went with the flush.
    const days = all.filter((d) => d.id !== 'dec_00000000000000000000000000' && !tied.includes(d.id)).map((d) => d.createdAt.slice(0, 10)).sort();
    const summary = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage/summary?from=${days[0]}&to=${days.at(-1)}`, token: owner.accessToken })).json();
    const totals = countedOver(summary.days);
    expect({ allowed: totals.allowed, denied: totals.denied.NOT_IN_PLAN ?? 0 }).toEqual({ allowed: 5, denied: 1 });
  });

  it('an allowed decision\'s meter usage event is its reservation; the events list pages through it and usage_events as one', async () => {
    const owner = await t.signup();
    const { key, id: keyId } = await keyOf(owner, { usageCap: 100 });
    expect((await admin(owner.tenantId, { limits: { runs: 50, concurrentRuns: 10 } })).statusCode).toBe(200);
    const list = async (query: string) => (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage/events${query}`, token: owner.accessToken })).json();
    const event = (id: string, createdAt: Date, meter = 'runs') => t.db.asOwner(`INSERT INTO usage_events (tenant_id, id, meter, quantity, period_start, bypass, role, actor_type, actor_id,
      used_after, limit_value, created_at) VALUES ($1, $2, $3, 1, $4, false, NULL, 'user', 'usr_x', 0, NULL, $5)`, [owner.tenantId, id, meter, createdAt, createdAt]);
    // A meter event from before 0020, a row of usage_events (it is not counted: the counter predates it).
    await event('evt_00000000000000000000000000', new Date('2026-01-01T00:00:00.000Z'), 'legacy');
    const first = (await authorize(key, { operation: 'clustering' })).json();
    const [counted] = await t.db.asOwner<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [owner.tenantId]);
    // The key cap's event is a row; the meter's is the reservation.
    expect(counted!.n).toBe(2);
    const shown = (await list('')).events as Record<string, unknown>[];
    const meterEvent = shown.find((e) => e.meter === 'runs');
    const reservation = (await t.db.asOwner<{ period_start: Date; created_at: Date }>('SELECT period_start, created_at FROM credit_reservations WHERE decision_id = $1', [first.decisionId]))[0]!;
    expect(meterEvent).toEqual({
      id: `evt_${String(first.decisionId).slice(4)}`, meter: 'runs', quantity: 1, periodStart: new Date(reservation.period_start).toISOString(), bypass: false, role: null,
      actor: { type: 'api_key', id: keyId }, usedAfter: 1, limit: 50, createdAt: new Date(reservation.created_at).toISOString(),
    });
    expect(shown.find((e) => e.meter === `key:${keyId}`)).toMatchObject({ quantity: 1, usedAfter: 1, limit: 100, actor: { type: 'api_key', id: keyId } });
    // Ties: admissions of one batch share its instant; usage_events rows at that instant go on either side of them by id.
    const answers = (await Promise.all([1, 2, 3].map(() => authorize(key, { operation: 'clustering' })))).map((r) => r.json());
    expect(answers.map((a) => a.code)).toEqual(['OK', 'OK', 'OK']);
    const shared = (await t.db.asOwner<{ created_at: Date }>('SELECT created_at FROM credit_reservations WHERE decision_id = $1', [answers[0].decisionId]))[0]!.created_at;
    const tied = ['evt_00000000000000000000000001', 'evt_ZZZZZZZZZZZZZZZZZZZZZZZZZZ'];
    for (const id of tied) await event(id, new Date(shared), 'other');
    const all = (await list('?limit=100')).events as { id: string; meter: string; createdAt: string; usedAfter: number }[];
    expect(all).toHaveLength(1 + 2 * 4 + 2);
    const order = (a: { createdAt: string; id: string }, b: { createdAt: string; id: string }) => (b.createdAt.localeCompare(a.createdAt) || (a.id < b.id ? 1 : -1));
    expect([...all].sort(order)).toEqual(all);
    // At one instant (the test's clock stands still) they are in their ids' order, not their admission's.
    expect(all.filter((e) => e.meter === 'runs').map((e) => e.usedAfter).sort()).toEqual([1, 2, 3, 4]);
    expect(all.filter((e) => e.meter === 'runs').map((e) => e.id).sort()).toEqual([first, ...answers].map((a) => `evt_${String(a.decisionId).slice(4)}`).sort());
    // Page by page, one at a time: the same events in the same order, none twice.
    const paged: string[] = [];
    for (let cursor = ''; ;) {
      const page = await list(`?limit=1${cursor}`);
      paged.push(...page.events.map((e: { id: string }) => e.id));
      if (!page.nextCursor || paged.length > all.length) break;
      cursor = `&cursor=${encodeURIComponent(page.nextCursor)}`;
    }
    expect(paged).toEqual(all.map((e) => e.id));
  });

  it('counts what it buffers and what it had to drop', () => {
    // Never started, so never flushed: as under a database that cannot take the rows.
    const log = new DecisionLog(t.deps.database.db, () => undefined);
    const row = {
      tenantId: 'tnt_x', id: 'dec_x', principalType: 'api_key', principalId: 'key_x', userId: null, operation: 'clustering', module: 'planner', model: null,
      allowed: false, code: 'LIMIT_EXCEEDED', credits: null, reservationId: null, bypass: null, idempotencyKey: null, replayed: false, requestId: null, createdAt: new Date(), calls: 1,
    };
    // Each of another key: denials like one another would be counted on one row (below).
    for (let i = 0; i < 50_003; i++) log.record({ ...row, id: `dec_${i}`, principalId: `key_${i}` });
    expect(log.pendingRows).toBe(50_000);
    expect(log.droppedRows).toBe(3);
  });
});

type Reach = 'lose-reply' | 'down' | 'up';

/**
 * The app's database handle behind a flaky network: `down` refuses every transaction;
 * `lose-reply` runs and commits it, then its caller hears of a reset connection (the
 * COMMIT's reply lost); `up` is the handle itself.
 */
function flaky(reach: () => Reach): typeof t.deps.database.db {
  const real = t.deps.database.db;
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== 'transaction') return Reflect.get(target, prop, receiver) as unknown;
      return async (fn: Parameters<typeof real.transaction>[0]) => {
        if (reach() === 'down') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        const result = await target.transaction(fn);
        if (reach() === 'lose-reply') throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        return result;
      };
    },
  });
}

/** A tenant's allowed decisions in the day counts, over all days. */
async function allowedCount(tenantId: string): Promise<number> {
  return (await t.db.asOwner<{ n: number }>("SELECT coalesce(sum(n), 0)::int AS n FROM usage_days WHERE tenant_id = $1 AND key = 'allowed'", [tenantId]))[0]!.n;
}

describe('the allowed decisions\' day counts', () => {
  it('a write whose COMMIT went through but whose reply was lost is not added again', async () => {
    const owner = await t.signup();
    const real = t.deps.database.db;
    let reach: Reach = 'lose-reply';
    const log = new DecisionLog(flaky(() => reach), () => undefined, { clock: t.clock, onWritten: (tx, rows) => t.deps.usage.countDecisions(tx, rows) });
    const allowed = () => allowedCount(owner.tenantId);
    for (let i = 0; i < 3; i++) log.countAllowed(owner.tenantId, t.clock.now());
    await expect(log.flush()).rejects.toThrow(/ECONNRESET/);
    reach = 'up';
    // Committed, though the log cannot know it: it keeps the counts, under their write's id.
    expect(await allowed()).toBe(3);
    expect(log.oldestPendingSeconds).toBeGreaterThanOrEqual(0);
    log.countAllowed(owner.tenantId, t.clock.now());
    await log.flush();
    // The unsure write goes first and alone; a count made meanwhile waits for the next write.
    expect(await allowed()).toBe(3);
    await log.flush();
    expect(await allowed()).toBe(4);
    expect(log.oldestPendingSeconds).toBe(0);
    // Each claim lets go of the ids older than a day.
    const ids = async () => (await t.db.asOwner<{ id: string }>('SELECT id FROM decision_count_flushes')).map((r) => r.id);
    const before = await ids();
    expect(before.length).toBeGreaterThanOrEqual(2);
    const later = new Date(t.clock.now().getTime() + 2 * 86_400_000);
    const id = newId('dcf', later.getTime());
    expect(await inSystem(real, (tx) => claimCountWrite(tx, id, later))).toBe(true);
    expect(await inSystem(real, (tx) => claimCountWrite(tx, id, later))).toBe(false);
    const after = await ids();
    expect(after).toContain(id);
    expect(after.filter((x) => before.includes(x))).toEqual([]);
  });
});

describe('the allowed decisions\' day counts, the database out of reach for long', () => {
  it('a write unsure for longer than its id is kept is given up and counted as dropped, never added twice', async () => {
    const owner = await t.signup();
    const clock = new ManualClock(t.clock.now());
    let state: Reach = 'lose-reply';
    const log = new DecisionLog(flaky(() => state), () => undefined, { clock, onWritten: (tx, rows) => t.deps.usage.countDecisions(tx, rows) });
    const allowed = () => allowedCount(owner.tenantId);
    for (let i = 0; i < 2; i++) log.countAllowed(owner.tenantId, clock.now());
    await expect(log.flush()).rejects.toThrow(/ECONNRESET/);
    expect(await allowed()).toBe(2);
    // Out of reach for 13 hours: past half the day its id is kept, the write is given up.
    state = 'down';
    clock.advance(13 * 3_600_000);
    log.countAllowed(owner.tenantId, clock.now());
    await expect(log.flush()).rejects.toThrow(/ECONNREFUSED/);
    expect(log.droppedCounts).toBe(2);
    state = 'up';
    await log.flush();
    expect(await allowed()).toBe(3);
    expect(log.oldestPendingSeconds).toBe(0);
  });
});

describe('a decision-log write made twice', () => {
  it('answers only the rows the second write added: those the day counts add', async () => {
    const owner = await t.signup();
    const row = (id: string, model: string | null) => ({
      tenantId: owner.tenantId, id, principalType: 'api_key', principalId: `key_${id}`, userId: null, operation: 'clustering', module: 'planner', model,
      allowed: false, code: 'LIMIT_EXCEEDED', credits: null, reservationId: null, bypass: null, idempotencyKey: null, replayed: false, requestId: null,
      createdAt: t.clock.now(), calls: 3,
    });
    const db = t.deps.database.db;
    const first = [row('dec_twice_1', null), row('dec_twice_2', null)];
    expect((await inSystem(db, (tx) => insertLog(tx, first))).map((r) => r.id)).toEqual(['dec_twice_1', 'dec_twice_2']);
    // As a flush retried after its commit's answer was lost: the same rows, and one more.
    const again = [...first, row('dec_twice_3', 'openai/x')];
    expect((await inSystem(db, (tx) => insertLog(tx, again))).map((r) => r.id)).toEqual(['dec_twice_3']);
    const [kept] = await t.db.asOwner<{ model: string; calls: number; created_at: Date; bypass: unknown }>("SELECT model, calls, created_at, bypass FROM decision_log WHERE id = 'dec_twice_3'");
    expect(kept).toEqual({ model: 'openai/x', calls: 3, created_at: t.clock.now(), bypass: null });
  });
});

describe('denials in the decision log', () => {
  const denialsOf = async (tenantId: string) =>
    (await t.request({ method: 'GET', url: `/v1/admin/tenants/${tenantId}/decisions?allowed=false`, token: op.accessToken })).json().decisions as
      { id: string; code: string; principal: { id: string }; calls: number; createdAt: string }[];

  it('are a row per principal, code and minute in each write of the log, counting every call it stands for', async () => {
    const owner = await t.signup();
    const first = await keyOf(owner);
    const second = await keyOf(owner);
    expect((await admin(owner.tenantId, { limits: { runs: 1, concurrentRuns: 100 } })).statusCode).toBe(200);
    await t.deps.decisionLog.flush();
    t.clock.set(Math.floor(t.clock.now().getTime() / 60_000) * 60_000 + 60_000 + 1_000);
    // The calls span three minutes of the harness's clock, which starts at the real time:
    // they may straddle a UTC midnight, so the summary is read over every day they touch.
    const firstDay = t.clock.now().toISOString().slice(0, 10);
    const codes = [];
    // One admitted, then the meter is full: refused by the batch, then from memory.
    for (let i = 0; i < 6; i++) codes.push((await authorize(first.key, { operation: 'clustering' })).json().code);
    // A second apart within the minute, so the log's newest-first order is theirs.
    t.clock.advance(1_000);
    codes.push((await authorize(second.key, { operation: 'clustering' })).json().code);
    t.clock.advance(1_000);
    codes.push((await authorize(first.key, { operation: 'linking' })).json().code);
    expect(codes).toEqual(['OK', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED', 'NOT_IN_PLAN']);
    // The next minute is a row of its own.
    t.clock.advance(60_000);
    for (let i = 0; i < 2; i++) await authorize(first.key, { operation: 'clustering' });
    await t.deps.decisionLog.flush();

    const rows = (await denialsOf(owner.tenantId)).map((d) => [d.principal.id, d.code, d.calls]);
    expect(rows).toEqual([
      [first.id, 'LIMIT_EXCEEDED', 2],
      [first.id, 'NOT_IN_PLAN', 1],
      [second.id, 'LIMIT_EXCEEDED', 1],
      [first.id, 'LIMIT_EXCEEDED', 5],
    ]);
    // Every call is counted where calls are counted.
    const lastDay = t.clock.now().toISOString().slice(0, 10);
    const summary = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/usage/summary?from=${firstDay}&to=${lastDay}`, token: op.accessToken })).json();
    expect(countedOver(summary.days)).toEqual({ allowed: 1, denied: { LIMIT_EXCEEDED: 8, NOT_IN_PLAN: 1 } });
  });

  it('are counted on a row not yet written, never on one being written', async () => {
    const owner = await t.signup();
    const { key, id } = await keyOf(owner);
    await t.deps.decisionLog.flush();
    t.clock.set(Math.floor(t.clock.now().getTime() / 60_000) * 60_000 + 60_000 + 1_000);
    await authorize(key, { operation: 'linking' });
    const writing = t.deps.decisionLog.flush();
    t.clock.advance(1_000);
    await authorize(key, { operation: 'linking' });
    await writing;
    await authorize(key, { operation: 'linking' });
    await t.deps.decisionLog.flush();
    expect((await denialsOf(owner.tenantId)).map((d) => [d.principal.id, d.code, d.calls])).toEqual([[id, 'NOT_IN_PLAN', 2], [id, 'NOT_IN_PLAN', 1]]);
  });

  it('start a row of their own when the row they were counted on was dropped from a full buffer', async () => {
    const owner = await t.signup();
    // Never started, and room for three rows: as under a database that cannot take them.
    const log = new DecisionLog(t.deps.database.db, () => undefined, { maxPending: 3 });
    const denial = (principalId: string) => ({
      tenantId: owner.tenantId, id: newId('dec'), principalType: 'api_key', principalId, userId: null, operation: 'clustering', module: 'planner', model: null,
      allowed: false, code: 'LIMIT_EXCEEDED', credits: null, reservationId: null, bypass: null, idempotencyKey: null, replayed: false, requestId: null,
      createdAt: t.clock.now(), calls: 1,
    });
    log.record(denial('key_first'));
    for (const other of ['key_a', 'key_b', 'key_c']) log.record(denial(other));
    expect(log.droppedRows).toBe(1);
    // Like the dropped one: counted on a row that will be written, not on the dropped one.
    log.record(denial('key_first'));
    log.record(denial('key_first'));
    expect([log.pendingRows, log.droppedRows]).toEqual([3, 2]);
    await log.flush();
    expect((await denialsOf(owner.tenantId)).map((d) => [d.principal.id, d.calls]).sort()).toEqual([['key_b', 1], ['key_c', 1], ['key_first', 2]]);
  });
});

describe('metrics', () => {
  it('count decisions by code and by how they were made, and observe every batch', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    expect((await admin(owner.tenantId, { limits: { runs: 1, concurrentRuns: 100 } })).statusCode).toBe(200);
    const before = await scrapeMetrics(t);

    // One admitted, then the meter is full: the first refusal from the batch, the second from memory.
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await authorize(key, { operation: 'clustering' })).json().code);
    expect(codes).toEqual(['OK', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED']);
    await t.deps.decisionLog.flush();

    const after = await scrapeMetrics(t);
    const delta = (series: string) => metricSample(after, series) - metricSample(before, series);
    expect(delta('tollgate_decisions_total{code="OK"}')).toBe(1);
    expect(delta('tollgate_decisions_total{code="LIMIT_EXCEEDED"}')).toBe(2);
    expect(delta('tollgate_decision_paths_total{path="batched"}')).toBe(2);
    expect(delta('tollgate_decision_paths_total{path="memory"}')).toBe(1);
    expect(delta('tollgate_decision_paths_total{path="alone"}')).toBe(0);
    // Sequential calls: a batch of one each, timed from statement to answer.
    expect(delta('tollgate_decision_batch_size_count')).toBe(2);
    expect(delta('tollgate_decision_batch_size_sum')).toBe(2);
    expect(delta('tollgate_decision_batch_seconds_count')).toBe(2);
    expect(delta('tollgate_decision_batch_seconds_sum')).toBeGreaterThan(0);
    expect(metricSample(after, 'tollgate_decision_batches_refused_total')).toBe(0);
    expect(metricSample(after, 'tollgate_decision_log_pending')).toBe(0);
    expect(after).toMatch(/^tollgate_decision_log_dropped_total 0$/m);
    expect(after).toMatch(/^tollgate_decision_counts_dropped_total 0$/m);
  });
});

/** A usage summary's decisions summed over its days: calls a test made may fall on two UTC days. */
function countedOver(days: { allowed: number; denied: Record<string, number> }[]): { allowed: number; denied: Record<string, number> } {
  const counted = { allowed: 0, denied: {} as Record<string, number> };
  for (const day of days) {
    counted.allowed += day.allowed;
    for (const [code, calls] of Object.entries(day.denied)) counted.denied[code] = (counted.denied[code] ?? 0) + calls;
  }
  return counted;
}
