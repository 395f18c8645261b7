import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/lib/clock.js';
import { capturedLogger, metricSample, scrapeMetrics, startTestApp, type SignedUp, type TestApp } from './harness.js';

/**
 * The batched background writers (the decision log, key last-used times) share one
 * buffer across every tenant: a row the database refuses must not stop the others.
 * In-process callers (createTollgate) reach them without the HTTP edge's text checks.
 */
let t: TestApp;
let lines: string[];
let a: SignedUp;
let b: SignedUp;
const clock = new ManualClock('2026-03-02T10:00:00.000Z');

beforeAll(async () => {
  const captured = capturedLogger();
  lines = captured.lines;
  t = await startTestApp({ logger: captured.logger, clock });
  a = await t.signup();
  b = await t.signup();
});
afterAll(async () => { await t.close(); });

function logRow(tenantId: string, id: string, model: string | null) {
  return {
    // A user of its own each: denials of one user, code and minute would be counted on one row (gate/log.ts).
    tenantId, id, principalType: 'user', principalId: `usr_${id}`, userId: null, operation: 'chat', module: 'thinker', model,
    allowed: false, code: 'NOT_IN_PLAN', credits: null, reservationId: null, bypass: null, idempotencyKey: null, replayed: false,
    requestId: `req_${id}`, createdAt: clock.now(), calls: 1,
  };
}

describe('a row the database refuses', () => {
  it('is dropped, counted and logged by the decision log; every other tenant\'s rows are written', async () => {
    const log = t.deps.decisionLog;
    log.record(logRow(a.tenantId, 'dec_good_a', 'openai/x'));
    log.record(logRow(b.tenantId, 'dec_poisoned', 'openai/x\u0000'));
    log.record(logRow(b.tenantId, 'dec_good_b', null));
    expect(metricSample(await scrapeMetrics(t), 'tollgate_decision_log_pending')).toBe(3);
    clock.advance(1500);
    expect(metricSample(await scrapeMetrics(t), 'tollgate_decision_log_oldest_pending_seconds')).toBe(1.5);

    await log.flush();
    const written = await t.db.asOwner<{ id: string }>("SELECT id FROM decision_log WHERE id LIKE 'dec\\_%\\_%' ORDER BY id");
    expect(written.map((r) => r.id)).toEqual(['dec_good_a', 'dec_good_b']);
    expect(log.pendingRows).toBe(0);
    const metrics = await scrapeMetrics(t);
    expect(metricSample(metrics, 'tollgate_background_rows_refused_total{writer="decision_log"}')).toBe(1);
    expect(metricSample(metrics, 'tollgate_decision_log_oldest_pending_seconds')).toBe(0);
    const logged = lines.filter((l) => l.includes('refused a decision-log row')).map((l) => JSON.parse(l));
    expect(logged).toEqual([expect.objectContaining({ level: 50, tenantId: b.tenantId, decisionId: 'dec_poisoned', requestId: 'req_dec_poisoned', sqlState: expect.stringMatching(/^22/) })]);

    // Not retried: the next flush writes the next rows at once.
    log.record(logRow(a.tenantId, 'dec_later_a', null));
    await log.flush();
    expect((await t.db.asOwner("SELECT 1 FROM decision_log WHERE id = 'dec_later_a'"))).toHaveLength(1);
    expect(log.refusedRows).toBe(1);
  });

  it('the allowed decisions\' day counts (their records are their reservations) wait for the flush, each on its own day', async () => {
    const log = t.deps.decisionLog;
    await log.flush();
    const counts = async () => t.db.asOwner<{ tenant_id: string; day: string; n: number }>(
      "SELECT tenant_id, to_char(day, 'YYYY-MM-DD') AS day, n::int AS n FROM usage_days WHERE key = 'allowed' AND tenant_id = ANY($1) ORDER BY 1, 2", [[a.tenantId, b.tenantId]]);
    const before = await counts();
    const started = clock.now();
    const lastMinute = new Date('2026-03-02T23:59:59.999Z');
    log.countAllowed(a.tenantId, lastMinute);
    log.countAllowed(a.tenantId, lastMinute);
    log.countAllowed(a.tenantId, new Date('2026-03-03T00:00:00.000Z'));
    log.countAllowed(b.tenantId, lastMinute);
    clock.set(new Date('2026-03-03T00:00:01.999Z'));
    expect(metricSample(await scrapeMetrics(t), 'tollgate_decision_log_oldest_pending_seconds')).toBe(2);
    await log.flush();
    const added = (await counts()).map((r) => ({ ...r, n: r.n - (before.find((x) => x.tenant_id === r.tenant_id && x.day === r.day)?.n ?? 0) }));
    expect(added).toEqual([
      { tenant_id: a.tenantId, day: '2026-03-02', n: 2 }, { tenant_id: a.tenantId, day: '2026-03-03', n: 1 }, { tenant_id: b.tenantId, day: '2026-03-02', n: 1 },
    ].sort((x, y) => (x.tenant_id < y.tenant_id ? -1 : x.tenant_id > y.tenant_id ? 1 : x.day < y.day ? -1 : 1)));
    expect(metricSample(await scrapeMetrics(t), 'tollgate_decision_log_oldest_pending_seconds')).toBe(0);
    clock.set(started);
  });

  it('is dropped, counted and logged by the key last-used writer; the other keys are written', async () => {
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${a.tenantId}/api-keys`, token: a.accessToken, payload: { name: 'k', scopes: ['read'] } })).json();
    const at = new Date('2026-03-02T10:05:00.000Z');
    t.deps.keyUsage.record('api_keys', 'key_\udc00poisoned', at);
    t.deps.keyUsage.record('api_keys', key.id, at);
    await t.deps.keyUsage.flush();
    const [row] = await t.db.asOwner<{ last_used_at: Date }>('SELECT last_used_at FROM api_keys WHERE id = $1', [key.id]);
    expect(new Date(row!.last_used_at).toISOString()).toBe(at.toISOString());
    expect(metricSample(await scrapeMetrics(t), 'tollgate_background_rows_refused_total{writer="key_last_used"}')).toBe(1);
    expect(lines.some((l) => l.includes('refused a key\'s last-used time'))).toBe(true);
    await t.deps.keyUsage.flush();
    expect(t.deps.keyUsage.refusedRows).toBe(1);
  });
});
