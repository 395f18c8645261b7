import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE, onPostgres, startTestApp, testConfig, type TestApp } from '../../../test/harness.js';
import { openDatabase } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import { createDeps, type Deps } from '../../deps.js';
import { addMonthUtc, type Period } from '../billing/index.js';

/**
 * The invariant of the usage counters: N concurrent consumes against a remaining
 * allowance of L admit exactly min(N, L), with no read-then-write window anywhere.
 * On PostgreSQL the requests race over a real pool (and two pools = two app
 * instances); PGlite serialises transactions, so there it is a logic check.
 */
const N = onPostgres ? 1000 : 150;
const ALLOWANCE = onPostgres ? 100 : 40;
const ROUNDS = onPostgres ? 20 : 2;

let t: TestApp;
let second: Deps | undefined;
beforeAll(async () => {
  t = await startTestApp({ poolSize: 25 });
  if (t.db.url) {
    const database = await openDatabase({ url: t.db.url, appRole: APP_ROLE, poolSize: 25, migrate: false });
    second = await createDeps(testConfig(), { clock: t.clock, database, logger: pino({ level: 'silent' }) });
  }
});
afterAll(async () => {
  await second?.close();
  await t.close();
});

async function newTenant(): Promise<string> {
  return (await t.signup()).tenantId;
}

/** The primitive the decision composes: one counter statement inside a tenant transaction. */
function consumeOnce(deps: Deps, tenantId: string, period: Period, amount: number, limit: number) {
  return inTenant(deps.database.db, tenantId, (tx) => deps.limits.consume(tx, {
    tenantId, meter: 'runs', amount, limit, period, role: null, actor: { type: 'system', id: null },
  }));
}

async function counter(tenantId: string, period: Period): Promise<number> {
  const [row] = await t.db.asOwner<{ used: string }>('SELECT used FROM usage_counters WHERE tenant_id = $1 AND period_start = $2', [tenantId, period.start.toISOString()]);
  return Number(row?.used ?? 0);
}

describe('usage counters under concurrency', () => {
  it(`${N} concurrent consumes against a remaining allowance of ${ALLOWANCE} admit exactly ${ALLOWANCE}, ${ROUNDS} times`, async () => {
    const tenantId = await newTenant();
    for (let round = 0; round < ROUNDS; round++) {
      const start = new Date(Date.UTC(2031, 0, 1 + round));
      const period = { start, end: addMonthUtc(start) };
      // Some allowance is already used: the race is for what remains.
      await consumeOnce(t.deps, tenantId, period, 7, 7 + ALLOWANCE);
      const results = await Promise.all(Array.from({ length: N }, () => consumeOnce(t.deps, tenantId, period, 1, 7 + ALLOWANCE)));
      expect(results.filter((r) => r.ok)).toHaveLength(ALLOWANCE);
      expect(await counter(tenantId, period)).toBe(7 + ALLOWANCE);
    }
  // 20,000 transactions on a real pool: on a busy two-core machine this takes more than the default minute.
  }, 180_000);

  it('mixed costs (1/5/20) never overshoot, and every refusal was one that no longer fit', async () => {
    const tenantId = await newTenant();
    const period = { start: new Date('2032-03-01T00:00:00Z'), end: new Date('2032-04-01T00:00:00Z') };
    const costs = Array.from({ length: N }, (_, i) => [1, 5, 20][i % 3]!);
    const results = await Promise.all(costs.map((c) => consumeOnce(t.deps, tenantId, period, c, ALLOWANCE)));
    const admitted = costs.filter((_, i) => results[i]!.ok).reduce((a, b) => a + b, 0);
    const used = await counter(tenantId, period);
    expect(used).toBe(admitted);
    expect(used).toBeLessThanOrEqual(ALLOWANCE);
    const smallestRefused = Math.min(...costs.filter((_, i) => !results[i]!.ok));
    expect(smallestRefused).toBeGreaterThan(ALLOWANCE - used);
  });

  it.skipIf(!onPostgres)('two app instances (two pools) on one database admit exactly the allowance', async () => {
    const tenantId = await newTenant();
    const period = { start: new Date('2033-01-01T00:00:00Z'), end: new Date('2033-02-01T00:00:00Z') };
    const results = await Promise.all(Array.from({ length: N }, (_, i) => consumeOnce(i % 2 ? t.deps : second!, tenantId, period, 1, ALLOWANCE)));
    expect(results.filter((r) => r.ok)).toHaveLength(ALLOWANCE);
    expect(await counter(tenantId, period)).toBe(ALLOWANCE);
  });

  it('50 concurrent first requests of a new tenant in a new period make one counter row and admit exactly the limit', async () => {
    const op = await t.operator();
    const tenantId = await newTenant();
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload: { limits: { runs: 20 } } });
    const sub = (await t.deps.tenancy.getTenant(tenantId)).subscription!;
    const saved = t.clock.now();
    try {
      t.clock.set(sub.currentPeriodEnd);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 || !second ? t.deps : second).metering.consume({ tenantId }, 'runs')));
      expect(results.filter((r) => r.ok)).toHaveLength(20);
      const rows = await t.db.asOwner<{ period_start: Date; used: string }>('SELECT period_start, used FROM usage_counters WHERE tenant_id = $1', [tenantId]);
      expect(rows).toHaveLength(1);
      expect(Number(rows[0]!.used)).toBe(20);
      expect(new Date(rows[0]!.period_start).toISOString()).toBe(sub.currentPeriodEnd);
      expect((await t.deps.tenancy.getTenant(tenantId)).subscription!.currentPeriodStart).toBe(sub.currentPeriodEnd);
    } finally {
      t.clock.set(saved);
    }
  });
});
