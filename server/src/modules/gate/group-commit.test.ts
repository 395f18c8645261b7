import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { intoNextSecond, onPostgres, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';

// The batched decision (tollgate_decide, one statement per batch) against the reference
// path (one transaction per decision): the same commands applied to a tenant in each
// must get the same answers, denial codes, limits, balances and bypasses — and the same
// RATE_LIMITED answers: the key has a small bucket of its own, and the batch (which asks
// the limiter before the database) must spend from it exactly what the reference path does.

interface World { t: TestApp; op: SignedUp; owner: SignedUp; key: string; lastReservation: string | null }

type Command =
  | { kind: 'authorize'; as: 'owner' | 'key'; operation: 'clustering' | 'content' | 'linking' | 'content_generation'; words: number; idempotencyKey: string | null; model: string | null }
  | { kind: 'runs'; limit: number }
  | { kind: 'concurrent'; limit: number }
  | { kind: 'module'; enabled: boolean }
  | { kind: 'plan'; plan: 'free' | 'pro' }
  | { kind: 'credits'; amount: number }
  | { kind: 'resolve'; how: 'settle' | 'release' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('authorize' as const),
      as: fc.constantFrom('owner' as const, 'key' as const),
      operation: fc.constantFrom('clustering' as const, 'content' as const, 'linking' as const, 'content_generation' as const),
      words: fc.integer({ min: 1, max: 3000 }),
      idempotencyKey: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: null }),
      model: fc.option(fc.constantFrom('openai/gpt-5', 'bedrock/claude'), { nil: null, freq: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('runs' as const), limit: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('concurrent' as const), limit: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('module' as const), enabled: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('plan' as const), plan: fc.constantFrom('free' as const, 'pro' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('credits' as const), amount: fc.integer({ min: -150, max: 80 }).filter((n) => n !== 0) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resolve' as const), how: fc.constantFrom('settle' as const, 'release' as const) }) },
);

let batched: TestApp;
let alone: TestApp;

beforeAll(async () => {
  batched = await startTestApp({ patch: (file) => { file.plans.pro!.models = ['bedrock/*']; } });
  alone = await startTestApp({ patch: (file) => { file.plans.pro!.models = ['bedrock/*']; file.metering.groupCommit = false; } });
});
afterAll(async () => {
  await batched.close();
  await alone.close();
});

/**
 * The tenant of each request of a decision statement's batch, read off its tollgate_request[]
 * literal: each row opens with `"(ord,tid,`; inside a row a quote is always escaped.
 */
function batchTenants(params: unknown[]): string[] {
  return [...String(params[0]).matchAll(/(?:^\{|,)"\((\d+),([^,]*),/g)].map((m) => m[2]!);
}

async function world(t: TestApp, op: SignedUp, run: number): Promise<World> {
  const owner = await t.signup();
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: `k${run}`, scopes: ['authorize'], usageCap: 7, rateLimit: { limit: 3, windowSeconds: 86_400 } } });
  expect(res.statusCode, res.body).toBe(201);
  return { t, op, owner, key: res.json().key as string, lastReservation: null };
}

/** Applies one command; returns what a client would see, without the ids and instants that differ between the two apps. */
async function apply(w: World, c: Command, step: number): Promise<unknown> {
  const { t, owner, op } = w;
  const admin = (payload: Record<string, unknown>) => t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload });
  switch (c.kind) {
    case 'authorize': {
      const payload: Record<string, unknown> = { operation: c.operation };
      if (c.operation !== 'clustering' && c.operation !== 'linking') payload.quantity = { words: c.words };
      if (c.idempotencyKey) payload.idempotencyKey = c.idempotencyKey;
      if (c.model) payload.model = c.model;
      const res = await t.request({ method: 'POST', url: '/v1/authorize', token: c.as === 'owner' ? owner.accessToken : w.key, payload });
      const body = res.json();
      if (res.statusCode !== 200) return { status: res.statusCode, code: body.error?.code };
      if (body.reservation && !body.replayed) w.lastReservation = body.reservation.id;
      return {
        allowed: body.allowed, code: body.code, replayed: body.replayed ?? false, tenant: { plan: body.tenant.plan, enterprise: body.tenant.enterprise },
        principal: { type: body.principal.type, role: body.principal.role }, operation: body.operation,
        limits: body.limits.map((l: Record<string, unknown>) => ({
          ...l, meter: String(l.meter).startsWith('key:') ? 'key:*' : l.meter, resetsAt: l.resetsAt === null ? null : 'set',
        })),
        credits: body.credits, reservation: body.reservation && { credits: body.reservation.credits }, bypass: body.bypass,
        retryAfterMs: body.retryAfterMs === undefined ? undefined : 'set',
      };
    }
    case 'runs': return (await admin({ limits: { runs: c.limit } })).statusCode;
    case 'concurrent': return (await admin({ limits: { concurrentRuns: c.limit } })).statusCode;
    case 'plan': return (await admin({ plan: c.plan })).statusCode;
    case 'module':
      return (await t.request({ method: 'PUT', url: `/v1/tenants/${owner.tenantId}/modules/writer`, token: owner.accessToken, payload: { enabled: c.enabled } })).statusCode;
    case 'credits':
      return (await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/credits`, token: op.accessToken, payload: { amount: c.amount, reason: 'test', idempotencyKey: `step-${step}` } })).statusCode;
    case 'resolve': {
      if (!w.lastReservation) return 'none';
      const res = await t.request({ method: 'POST', url: `/v1/reservations/${w.lastReservation}/${c.how}`, token: w.key, payload: {} });
      return { status: res.statusCode, credits: res.json().credits ?? res.json().error?.code };
    }
  }
}

describe('group commit', () => {
  it('the batched decision answers every sequence of commands exactly as the reference path does', async () => {
    const ops = [await batched.operator(), await alone.operator()] as const;
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
      run++;
      const a = await world(batched, ops[0], run);
      const b = await world(alone, ops[1], run);
      for (const [step, c] of commands.entries()) {
        const expected = await apply(b, c, step);
        expect(await apply(a, c, step), `step ${step}: ${JSON.stringify(c)}`).toEqual(expected);
      }
    }), { numRuns: 40 });
    // Both paths were exercised: the batch decided, the reference path decided alone.
    expect(batched.deps.gate.paths.batched).toBeGreaterThan(50);
    expect(alone.deps.gate.paths.batched).toBe(0);
    // …and the batch did not get there by failing over to the reference path.
    expect(batched.deps.gate.paths.refusedBatches).toBe(0);
  }, 300_000);

  it('a batched INSUFFICIENT_CREDITS answer shows the account as the reference path does, spelled in Node and kept for a key', async () => {
    // The property test reaches this refusal only in some runs; this sequence reaches it in
    // every run, both where Node spells the answer (no idempotency key) and where the
    // statement keeps it for a retry (idempotency key, spelled in SQL).
    const ops = [await batched.operator(), await alone.operator()] as const;
    const content: Command = { kind: 'authorize', as: 'owner', operation: 'content', words: 3000, idempotencyKey: null, model: null }; // 30 credits
    const commands: Command[] = [
      { kind: 'concurrent', limit: 4 }, // the free plan's 2 run slots would refuse first
      content, content,                 // 100 granted: 60 held
      { kind: 'resolve', how: 'settle' }, // charged 30: balance 70, 30 held
      content,                          // 60 held, 10 available
      content,                          // INSUFFICIENT_CREDITS
      { kind: 'authorize', as: 'key', operation: 'clustering', words: 1, idempotencyKey: 'a', model: null }, // exactly the last 10
      { kind: 'authorize', as: 'key', operation: 'content', words: 3000, idempotencyKey: 'b', model: null }, // INSUFFICIENT_CREDITS, kept
      { kind: 'authorize', as: 'key', operation: 'content', words: 3000, idempotencyKey: 'b', model: null }, // its replay
    ];
    const before = { ...batched.deps.gate.paths };
    const a = await world(batched, ops[0], 1_000);
    const b = await world(alone, ops[1], 1_000);
    const answers: unknown[] = [];
    for (const [step, c] of commands.entries()) {
      const expected = await apply(b, c, step);
      expect(await apply(a, c, step), `step ${step}: ${JSON.stringify(c)}`).toEqual(expected);
      answers.push(expected);
    }
    const refused = { allowed: false, code: 'INSUFFICIENT_CREDITS', reservation: null, credits: { balance: 70, reserved: 60, available: 10 } };
    expect(answers[5]).toMatchObject({ ...refused, replayed: false });
    expect(answers[7]).toMatchObject({ ...refused, replayed: false, credits: { balance: 70, reserved: 70, available: 0 } });
    expect(answers[8]).toMatchObject({ ...refused, replayed: true, credits: { balance: 70, reserved: 70, available: 0 } });
    // Decided by batches (all but the first, which writes the period grant alone), none refused.
    expect(batched.deps.gate.paths.batched - before.batched).toBeGreaterThanOrEqual(6);
    expect(batched.deps.gate.paths.refusedBatches - before.refusedBatches).toBe(0);
  });

  it('concurrent decisions share batches and admit exactly what fits', async () => {
    const { key } = await tenantWithKey(batched);
    const before = { ...batched.deps.gate.paths };
    const answers = await Promise.all(Array.from({ length: 40 }, () => batched.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })));
    expect(answers.every((r) => r.statusCode === 200)).toBe(true);
    // Free plan: 2 concurrent runs, one taken above.
    expect(answers.filter((r) => r.json().allowed)).toHaveLength(1);
    expect(new Set(answers.filter((r) => !r.json().allowed).map((r) => r.json().code))).toEqual(new Set(['LIMIT_EXCEEDED']));
    expect(batched.deps.gate.paths.batched - before.batched).toBe(40);
    expect(batched.deps.gate.paths.refusedBatches - before.refusedBatches).toBe(0);
  });

  it('a batch across tenants consumes each tenant\'s own rows: every tenant admits exactly its own concurrent-run cap', async () => {
    // Each tenant's first decision (alone) took one of the free plan's 2 run slots.
    const tenants = [];
    for (let i = 0; i < 5; i++) tenants.push(await tenantWithKey(batched));
    const before = { ...batched.deps.gate.paths };
    const calls = tenants.flatMap((tenant) => Array.from({ length: 8 }, () => tenant));
    const answers = await Promise.all(calls.map((tenant) => batched.request({ method: 'POST', url: '/v1/authorize', token: tenant.key, payload: { operation: 'clustering' } })));
    expect(batched.deps.gate.paths.batched - before.batched).toBe(40);
    expect(batched.deps.gate.paths.refusedBatches - before.refusedBatches).toBe(0);
    for (const tenant of tenants) {
      const mine = answers.filter((_, i) => calls[i] === tenant).map((r) => r.json());
      expect(mine.filter((d) => d.allowed)).toHaveLength(1);
      expect(mine.every((d) => d.tenant.id === tenant.owner.tenantId)).toBe(true);
      const [account] = await batched.db.asOwner<{ reserved: string }>('SELECT reserved FROM credit_accounts WHERE tenant_id = $1', [tenant.owner.tenantId]);
      const [held] = await batched.db.asOwner<{ sum: string }>("SELECT sum(amount) AS sum FROM credit_reservations WHERE tenant_id = $1 AND status = 'held'", [tenant.owner.tenantId]);
      expect(Number(account!.reserved)).toBe(Number(held!.sum));
      expect((await consumed(batched, tenant.owner.tenantId)).runs).toBe(2);
    }
  });

  it.skipIf(!onPostgres)('batches running at the same time never share a tenant (they would wait on each other\'s rows)', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 6; i++) keys.push((await tenantWithKey(batched)).key);
    // Watch the real statements go by: which tenants each batch carried, and when it ran.
    const database = batched.deps.database;
    const statement = database.statement.bind(database);
    const seen: { tenants: Set<string>; start: number; end: number }[] = [];
    database.statement = async <T>(text: string, params: unknown[]) => {
      const tenants = new Set(batchTenants(params));
      const entry = { tenants, start: performance.now(), end: Infinity };
      seen.push(entry);
      try {
        return await statement<T>(text, params);
      } finally {
        entry.end = performance.now();
      }
    };
    try {
      await Promise.all(Array.from({ length: 120 }, (_, i) => batched.request({ method: 'POST', url: '/v1/authorize', token: keys[Math.floor(i / 2) % keys.length]!, payload: { operation: 'clustering' } })));
    } finally {
      database.statement = statement;
    }
    const overlapping = seen.flatMap((a, i) => seen.slice(i + 1).filter((b) => a.start < b.end && b.start < a.end).map((b) => [a, b] as const));
    expect(overlapping.length).toBeGreaterThan(0);
    for (const [a, b] of overlapping) expect([...a.tenants].filter((t) => b.tenants.has(t))).toEqual([]);
  });

  it.skipIf(!onPostgres)('a batch starts beside a running one only with 16 requests of its own; fewer wait for it', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 6; i++) keys.push((await tenantWithKey(batched)).key);
    const gate = batched.deps.gate;
    const database = batched.deps.database;
    const statement = database.statement.bind(database);
    const sizes: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    // The first batch is held in flight until the test lets it go.
    database.statement = async <T>(text: string, params: unknown[]) => {
      sizes.push(batchTenants(params).length);
      if (sizes.length === 1) await held;
      return statement<T>(text, params);
    };
    const authorize = (key: string) => batched.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } });
    const calls: Promise<{ statusCode: number }>[] = [];
    try {
      calls.push(authorize(keys[0]!));
      await vi.waitFor(() => expect(sizes).toEqual([1]));
      for (let i = 0; i < 15; i++) calls.push(authorize(keys[1 + (i % 5)]!));
      await vi.waitFor(() => expect(gate.queuedForBatch).toBe(15));
      await new Promise((resolve) => setImmediate(resolve));
      expect(sizes).toEqual([1]);
      expect((await batched.request({ method: 'GET', url: '/metrics' })).body).toMatch(/^tollgate_decision_batch_queue 15$/m);
      calls.push(authorize(keys[1]!));
      await vi.waitFor(() => expect(sizes).toEqual([1, 16]));
    } finally {
      release();
      database.statement = statement;
    }
    expect((await Promise.all(calls)).every((r) => r.statusCode === 200)).toBe(true);
    expect(gate.queuedForBatch).toBe(0);
  });

  it.each(['batched', 'alone'] as const)('%s: an idempotent replay is refused to a key revoked or a user deactivated since, on the database\'s word', async (path) => {
    const t = path === 'batched' ? batched : alone;
    const { owner, key } = await tenantWithKey(t);
    const authorize = (token: string, idempotencyKey: string) =>
      t.request({ method: 'POST', url: '/v1/authorize', token, payload: { operation: 'clustering', idempotencyKey } });
    const first = (await authorize(key, 'by-key')).json();
    expect(first.allowed).toBe(true);
    const mine = (await authorize(owner.accessToken, 'by-user')).json();
    expect((await authorize(key, 'by-key')).json()).toMatchObject({ decisionId: first.decisionId, replayed: true });
    expect((await authorize(owner.accessToken, 'by-user')).json()).toMatchObject({ decisionId: mine.decisionId, replayed: true });
    // As another process would, before its notification arrives: the caches still hold both credentials.
    await t.db.asOwner('UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1', [owner.tenantId]);
    await t.db.asOwner("UPDATE users SET status = 'deactivated' WHERE id = $1", [owner.userId]);
    const byKey = await authorize(key, 'by-key');
    expect([byKey.statusCode, byKey.json().error?.code]).toEqual([401, 'UNAUTHENTICATED']);
    const byUser = await authorize(owner.accessToken, 'by-user');
    expect([byUser.statusCode, byUser.json().error?.code]).toEqual([403, 'USER_DEACTIVATED']);
  });

  it.each(['batched', 'alone'] as const)('%s: a user\'s access token signed out by a password reset in another process is refused', async (path) => {
    const t = path === 'batched' ? batched : alone;
    intoNextSecond(t.clock, 100);
    const { owner } = await tenantWithKey(t);
    const authorize = () => t.request({ method: 'POST', url: '/v1/authorize', token: owner.accessToken, payload: { operation: 'clustering' } });
    expect((await authorize()).statusCode).toBe(200);
    // Within the second the token was issued.
    t.clock.advance(1);
    await t.db.asOwner('UPDATE users SET sessions_valid_after = $2 WHERE id = $1', [owner.userId, t.clock.now()]);
    const before = await consumed(t, owner.tenantId);
    const paths = { ...t.deps.gate.paths };
    const res = await authorize();
    expect([res.statusCode, res.json().error?.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(await consumed(t, owner.tenantId)).toEqual(before);
    // Refused by the path named, not by the other after a fault.
    const after = t.deps.gate.paths;
    expect([after.alone - paths.alone, after.refusedBatches - paths.refusedBatches]).toEqual(path === 'batched' ? [0, 0] : [1, 0]);
  });

  it.each(['batched', 'alone'] as const)('%s: each subscription standing is decided by the database\'s row, whatever this process cached', async (path) => {
    // The batch spells the standing rule again in SQL (tollgate_decide); both must agree
    // with billing's rule for every status, not only the one the property test reaches.
    const t = path === 'batched' ? batched : alone;
    const now = t.clock.now().getTime();
    const grace = t.deps.config.file.billing.pastDueGraceSeconds * 1000;
    const cases: { status: string; pastDueSince?: Date; trialEndsAt?: Date; code: string }[] = [
      { status: 'past_due', pastDueSince: new Date(now - grace - 1000), code: 'PAYMENT_REQUIRED' },
      { status: 'past_due', pastDueSince: new Date(now - grace + 60_000), code: 'OK' },
      { status: 'pending_payment', code: 'PAYMENT_REQUIRED' },
      { status: 'suspended', code: 'PAYMENT_REQUIRED' },
      { status: 'canceled', code: 'PAYMENT_REQUIRED' },
      { status: 'trialing', trialEndsAt: new Date(now - 1000), code: 'PAYMENT_REQUIRED' },
      { status: 'trialing', trialEndsAt: new Date(now + 3_600_000), code: 'OK' },
    ];
    const paths = { ...t.deps.gate.paths };
    for (const c of cases) {
      const { owner, key } = await tenantWithKey(t); // its standing now cached as active
      await t.db.asOwner('UPDATE subscriptions SET status = $2, past_due_since = $3, trial_ends_at = $4 WHERE tenant_id = $1',
        [owner.tenantId, c.status, c.pastDueSince ?? null, c.trialEndsAt ?? null]);
      const before = await consumed(t, owner.tenantId);
      const res = await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } });
      expect([c, res.statusCode, res.json().code]).toEqual([c, 200, c.code]);
      if (c.code !== 'OK') expect(await consumed(t, owner.tenantId)).toEqual(before);
    }
    // Decided by the path named, not handed from the batch to the reference path.
    const after = t.deps.gate.paths;
    expect([after.alone - paths.alone, after.refusedBatches - paths.refusedBatches]).toEqual(path === 'batched' ? [0, 0] : [cases.length * 2, 0]);
  });

  it('a decision that keeps losing to concurrent transactions is a 503 to retry, never a 500, and keeps nothing', async () => {
    const { owner, key } = await tenantWithKey(batched);
    const before = await consumed(batched, owner.tenantId);
    // The batch and every one of the reference path's three attempts lose.
    const restore = await failReservationInserts(batched, '40P01', 4);
    try {
      const res = await batched.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } });
      expect([res.statusCode, res.json().error?.code, res.headers['retry-after']]).toEqual([503, 'DATABASE_BUSY', '1']);
      expect(await consumed(batched, owner.tenantId)).toEqual(before);
      // Its retry, once the pile-up is over, goes through.
      expect((await batched.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).json()).toMatchObject({ allowed: true });
    } finally {
      await restore();
    }
  });

  it('a batch the database refused committed nothing, and its requests are decided again one by one', async () => {
    const { owner, key } = await tenantWithKey(batched);
    // A real fault: the first reservation written after this fails the statement with a serialization failure.
    const restore = await failReservationInserts(batched, '40001', 1);
    try {
      const before = { ...batched.deps.gate.paths };
      const res = await batched.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering', idempotencyKey: 'once' } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ allowed: true, code: 'OK' });
      expect(batched.deps.gate.paths.alone - before.alone).toBe(1);
      expect(batched.deps.gate.paths.refusedBatches - before.refusedBatches).toBe(1);
      expect(await consumed(batched, owner.tenantId)).toEqual({ runs: 2, held: 2 });
      const replay = await batched.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering', idempotencyKey: 'once' } });
      expect(replay.json()).toMatchObject({ replayed: true, decisionId: res.json().decisionId });
    } finally {
      await restore();
    }
  });

  it('a reference-path decision that lost a deadlock runs again and is decided once', async () => {
    const { owner, key } = await tenantWithKey(alone);
    const restore = await failReservationInserts(alone, '40P01', 2);
    try {
      const res = await alone.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering', idempotencyKey: 'twice-lost' } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ allowed: true, code: 'OK' });
      expect(await consumed(alone, owner.tenantId)).toEqual({ runs: 2, held: 2 });
    } finally {
      await restore();
    }
  });
});

/** A tenant with an authorize key; its first decision (alone: it writes the period grant) has taken one run slot. */
async function tenantWithKey(t: TestApp): Promise<{ owner: SignedUp; key: string }> {
  const owner = await t.signup();
  const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key as string;
  await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } });
  return { owner, key };
}

/** The tenant's runs counter and its held reservations, as the database has them. */
async function consumed(t: TestApp, tenantId: string): Promise<{ runs: number; held: number }> {
  const [counter] = await t.db.asOwner<{ used: string }>("SELECT used FROM usage_counters WHERE tenant_id = $1 AND meter = 'runs'", [tenantId]);
  const [held] = await t.db.asOwner<{ n: string }>("SELECT count(*) AS n FROM credit_reservations WHERE tenant_id = $1 AND status = 'held'", [tenantId]);
  return { runs: Number(counter?.used ?? 0), held: Number(held!.n) };
}

/**
 * The next `times` reservations written fail their statement with `sqlstate` (a trigger;
 * sequences are not transactional, so each failure is counted once). Returns the undo.
 */
async function failReservationInserts(t: TestApp, sqlstate: string, times: number): Promise<() => Promise<void>> {
  await t.db.asOwner('CREATE SEQUENCE test_fail_once');
  await t.db.asOwner('GRANT USAGE ON SEQUENCE test_fail_once TO PUBLIC');
  await t.db.asOwner(`CREATE FUNCTION test_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF nextval('test_fail_once') <= ${times} THEN RAISE EXCEPTION 'injected' USING ERRCODE = '${sqlstate}'; END IF; RETURN NEW; END $$`);
  await t.db.asOwner('CREATE TRIGGER test_fail_once BEFORE INSERT ON credit_reservations FOR EACH ROW EXECUTE FUNCTION test_fail_once()');
  return async () => {
    await t.db.asOwner('DROP TRIGGER test_fail_once ON credit_reservations');
    await t.db.asOwner('DROP FUNCTION test_fail_once()');
    await t.db.asOwner('DROP SEQUENCE test_fail_once');
  };
}
