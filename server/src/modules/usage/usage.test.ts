import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inTenant } from '../../db/scope.js';
import { startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { csvField } from './export.js';
import { UsageService, type UsageDay } from './service.js';

let t: TestApp;
let op: SignedUp;

beforeAll(async () => {
  t = await startTestApp();
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

const authorize = (token: string, payload: Record<string, unknown>) => t.request({ method: 'POST', url: '/v1/authorize', token, payload });

async function keyOf(owner: SignedUp): Promise<{ id: string; key: string }> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'backend', scopes: ['authorize', 'read'] } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

/** The operator's token, issued now (tests move the clock past a token's life). */
async function operatorToken(): Promise<string> {
  const res = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: op.email, password: op.password } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().accessToken;
}

const admin = async (tenantId: string, payload: Record<string, unknown>) => {
  const res = await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: await operatorToken(), payload });
  expect(res.statusCode, res.body).toBe(200);
};

const recordsOf = (tenantId: string) => t.db.asOwner<Record<string, unknown>>(
  `SELECT reservation_id, outcome, meter, bypass, operation, model, route, quantity, reserved::int AS reserved, credits::int AS credits, actor_type, actor_id, role, idempotency_key
     FROM usage_records WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);

const today = () => t.clock.now().toISOString().slice(0, 10);

async function summary(owner: SignedUp, query = ''): Promise<{ days: UsageDay[] }> {
  const res = await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage/summary${query}`, token: owner.accessToken });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** What the summary must say, recounted from the raw records and the decision log. */
async function recount(tenantId: string, from: string, to: string): Promise<UsageDay[]> {
  const days = new Map<string, UsageDay>();
  for (let d = Date.parse(from); d <= Date.parse(to); d += 86_400_000) {
    const date = new Date(d).toISOString().slice(0, 10);
    days.set(date, { date, meters: {}, credits: 0, allowed: 0, denied: {} });
  }
  const records = await t.db.asOwner<{ day: string; outcome: string; meter: string | null; credits: string }>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, outcome, meter, credits FROM usage_records WHERE tenant_id = $1`, [tenantId]);
  for (const r of records) {
    const day = days.get(r.day);
    if (!day) continue;
    day.credits += Number(r.credits);
    if (r.outcome === 'settled' && r.meter) day.meters[r.meter] = (day.meters[r.meter] ?? 0) + 1;
  }
  // A row counts `calls` decisions: a denial's row stands for every one like it (gate/log.ts).
  const decisions = await t.db.asOwner<{ day: string; allowed: boolean; code: string; calls: number }>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, allowed, code, calls FROM decision_log WHERE tenant_id = $1 AND NOT replayed`, [tenantId]);
  // And an allowed decision's record since 0019 is its reservation.
  const admitted = await t.db.asOwner<{ day: string }>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM credit_reservations WHERE tenant_id = $1 AND principal_type IS NOT NULL`, [tenantId]);
  for (const d of [...decisions, ...admitted.map((a) => ({ day: a.day, allowed: true, code: 'OK', calls: 1 }))]) {
    const day = days.get(d.day);
    if (!day) continue;
    if (d.allowed) day.allowed += d.calls;
    else day.denied[d.code] = (day.denied[d.code] ?? 0) + d.calls;
  }
  return [...days.values()];
}

describe('usage records', () => {
  it('one per settle, release and expiry: quantity and credits charged, operation, model, route, principal, key', async () => {
    const owner = await t.signup();
    const { key, id: keyId } = await keyOf(owner);
    const settled = (await authorize(key, { operation: 'content_generation', quantity: { words: 1200 }, idempotencyKey: 'run-settled' })).json();
    t.clock.advance(1);
    const released = (await authorize(key, { operation: 'clustering', idempotencyKey: 'run-released' })).json();
    expect((await t.request({ method: 'POST', url: `/v1/reservations/${settled.reservation.id}/settle`, token: key, payload: { quantity: { words: 400 } } })).statusCode).toBe(200);
    t.clock.advance(1);
    expect((await t.request({ method: 'POST', url: `/v1/reservations/${released.reservation.id}/release`, token: key })).statusCode).toBe(200);
    // A replayed settle or release writes no second record.
    await t.request({ method: 'POST', url: `/v1/reservations/${settled.reservation.id}/settle`, token: key, payload: { quantity: { words: 400 } } });
    await t.request({ method: 'POST', url: `/v1/reservations/${released.reservation.id}/release`, token: key });
    t.clock.advance(1);
    const expiring = (await authorize(key, { operation: 'clustering', idempotencyKey: 'run-expired' })).json();
    t.clock.advance(3_600_000);
    expect((await t.deps.metering.sweep()).expired).toBeGreaterThanOrEqual(1);

    const principal = { actor_type: 'api_key', actor_id: keyId, role: null };
    expect(await recordsOf(owner.tenantId)).toEqual([
      {
        reservation_id: settled.reservation.id, outcome: 'settled', meter: 'runs', bypass: false, operation: 'content_generation', model: null,
        route: settled.route, quantity: { words: 400 }, reserved: 12, credits: 4, ...principal, idempotency_key: 'run-settled',
      },
      {
        reservation_id: released.reservation.id, outcome: 'released', meter: 'runs', bypass: false, operation: 'clustering', model: null,
        route: released.route, quantity: null, reserved: released.reservation.credits, credits: 0, ...principal, idempotency_key: 'run-released',
      },
      {
        reservation_id: expiring.reservation.id, outcome: 'expired', meter: 'runs', bypass: false, operation: 'clustering', model: null,
        route: expiring.route, quantity: null, reserved: expiring.reservation.credits, credits: 0, ...principal, idempotency_key: 'run-expired',
      },
    ]);
  });

  it('a bypass is marked, with the owner who passed the full meter', async () => {
    const owner = await t.signup();
    await admin(owner.tenantId, { limits: { runs: 1, concurrentRuns: 100 } });
    const { key } = await keyOf(owner);
    expect((await authorize(key, { operation: 'clustering' })).json().allowed).toBe(true);
    const d = (await authorize(owner.accessToken, { operation: 'clustering', idempotencyKey: 'bypass-run' })).json();
    expect(d, JSON.stringify(d)).toMatchObject({ allowed: true, bypass: { reason: 'owner', meter: 'runs' } });
    await t.request({ method: 'POST', url: `/v1/reservations/${d.reservation.id}/settle`, token: owner.accessToken, payload: { credits: 1 } });
    expect((await recordsOf(owner.tenantId)).filter((r) => r.bypass)).toEqual([expect.objectContaining({
      outcome: 'settled', bypass: true, meter: 'runs', credits: 1, actor_type: 'user', actor_id: owner.userId, role: 'owner', route: d.route,
    })]);
  });

  it('a reservation made without a decision (the credits API) is recorded too, on no meter', async () => {
    const owner = await t.signup();
    const r = await t.deps.metering.reserve({ tenantId: owner.tenantId, role: 'owner' }, { idempotencyKey: 'direct', credits: 5 });
    if (!r.ok) throw new Error('reserve failed');
    await t.deps.metering.settle({ tenantId: owner.tenantId }, r.value.reservation.id, { credits: 3 });
    expect(await recordsOf(owner.tenantId)).toEqual([expect.objectContaining({ outcome: 'settled', meter: null, credits: 3, reserved: 5, route: null })]);
    const [day] = (await summary(owner, `?from=${today()}&to=${today()}`)).days;
    expect(day).toMatchObject({ meters: {}, credits: 3 });
  });
});

describe('GET …/usage/summary', () => {
  it('counts runs per meter, credits, and decisions allowed and denied by code, per UTC day; operators see the same', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    await admin(owner.tenantId, { limits: { runs: 2, concurrentRuns: 100 } });
    expect((await authorize(key, { operation: 'content_generation', quantity: { words: 100_000 } })).json().code).toBe('INSUFFICIENT_CREDITS');
    const first = (await authorize(key, { operation: 'clustering', idempotencyKey: 'a' })).json();
    const second = (await authorize(key, { operation: 'clustering', idempotencyKey: 'b' })).json();
    expect((await authorize(key, { operation: 'clustering' })).json().code).toBe('LIMIT_EXCEEDED');
    await authorize(key, { operation: 'clustering', idempotencyKey: 'a' }); // a replay: not counted again
    await t.request({ method: 'POST', url: `/v1/reservations/${first.reservation.id}/settle`, token: key, payload: { credits: 2 } });
    await t.request({ method: 'POST', url: `/v1/reservations/${second.reservation.id}/release`, token: key });
    await t.deps.decisionLog.flush();

    const mine = await summary(owner, `?from=${today()}&to=${today()}`);
    expect(mine.days).toHaveLength(1);
    expect(mine.days[0]).toMatchObject({ date: today(), meters: { runs: 1 }, credits: 2, allowed: 2 });
    expect(mine.days[0]!.denied).toEqual({ LIMIT_EXCEEDED: 1, INSUFFICIENT_CREDITS: 1 });
    expect(mine.days).toEqual(await recount(owner.tenantId, today(), today()));
    const operator = await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/usage/summary?from=${today()}&to=${today()}`, token: await operatorToken() });
    expect(operator.json()).toEqual(mine);
  });

  it('defaults to the last 30 days, every day listed; checks from and to', async () => {
    const owner = await t.signup();
    const { days } = await summary(owner);
    expect(days).toHaveLength(30);
    expect(days.at(-1)).toEqual({ date: today(), meters: {}, credits: 0, allowed: 0, denied: {} });
    const get = (query: string) => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage/summary${query}`, token: owner.accessToken });
    for (const [query, code] of [
      ['?from=2026-02-30', 'VALIDATION_FAILED'], ['?from=yesterday', 'VALIDATION_FAILED'], ['?to=2026-1-1', 'VALIDATION_FAILED'],
      ['?from=2026-03-02&to=2026-03-01', 'DATE_RANGE_INVERTED'], ['?from=2025-01-01&to=2026-03-01', 'DATE_RANGE_TOO_LONG'],
      ['?since=2026-01-01', 'VALIDATION_FAILED'],
    ] as const) {
      const res = await get(query);
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error.code, query).toBe(code);
    }
    expect((await get('?from=2026-01-01&to=2026-12-31')).json().days).toHaveLength(365);
  });

  it('takes an RFC 3339 date-time for from and to as the UTC day it falls in; an instant no database keeps is a 400', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const d = (await authorize(key, { operation: 'clustering' })).json();
    await t.request({ method: 'POST', url: `/v1/reservations/${d.reservation.id}/settle`, token: key, payload: { credits: 3 } });
    const day = today();
    const get = (query: string, token = owner.accessToken, url = `/v1/tenants/${owner.tenantId}/usage/summary`) => t.request({ method: 'GET', url: `${url}${query}`, token });
    const byDates = await summary(owner, `?from=${day}&to=${day}`);
    expect(byDates.days).toEqual([expect.objectContaining({ date: day, meters: { runs: 1 }, credits: 3 })]);
    for (const query of [`?from=${day}T00:00:00Z&to=${day}T23:59:59.999Z`, `?from=${day}T12:00:00%2B01:00&to=${day}`, `?from=${day}&to=${day}T23:29:59-00:30`]) {
      const res = await get(query);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200);
      expect(res.json(), query).toEqual(byDates);
    }
    // An offset can put the instant on another UTC day than its local date says.
    const next = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
    expect((await get(`?from=${day}T23:30:00-05:00&to=${next}`)).json().days.map((x: UsageDay) => x.date)).toEqual([next]);
    // The operator's twin reads them the same way.
    const operator = await get(`?from=${day}T00:00:00Z&to=${day}T01:00:00Z`, await operatorToken(), `/v1/admin/tenants/${owner.tenantId}/usage/summary`);
    expect(operator.statusCode, operator.body).toBe(200);
    expect(operator.json()).toEqual(byDates);
    // From a date-time alone, the 30 days from its day.
    expect((await get(`?from=${day}T08:00:00Z`)).json().days).toHaveLength(30);
    for (const [query, code] of [
      ['?from=2030-06-30T23:59:60Z', 'VALIDATION_FAILED'], ['?from=0000-01-01T00:00:00Z', 'VALIDATION_FAILED'], ['?to=9999-12-31T23:59:59-23:59', 'VALIDATION_FAILED'],
      ['?from=2026-12-06T00:00:00', 'VALIDATION_FAILED'], ['?from=2026-12-06T25:00:00Z', 'VALIDATION_FAILED'], ['?to=9999-12-31T12:00:00Z', 'VALIDATION_FAILED'],
      ['?from=2026-03-02T00:00:00Z&to=2026-03-01T23:59:59Z', 'DATE_RANGE_INVERTED'], ['?from=2025-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'DATE_RANGE_TOO_LONG'],
    ] as const) {
      const res = await get(query);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(400);
      expect(res.json().error.code, query).toBe(code);
    }
    expect((await get('?from=2026-12-06T25:00:00Z')).json().error.message).toBe('querystring.from: must match format "date" or "date-time"');
  });

  it('equals a recount of the raw records and the decision log over random runs across days (property)', async () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant('authorize' as const), operation: fc.constantFrom('clustering', 'content_generation', 'image_generation') }),
      fc.record({ kind: fc.constant('settle' as const), credits: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('release' as const) }),
      fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 30 }) }),
    );
    await fc.assert(fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 25 }), async (actions) => {
      const owner = await t.signup();
      const { key } = await keyOf(owner);
      await admin(owner.tenantId, { limits: { runs: 6, concurrentRuns: 4 } });
      const start = today();
      const open: string[] = [];
      for (const a of actions) {
        if (a.kind === 'authorize') {
          const d = (await authorize(key, { operation: a.operation, quantity: a.operation === 'content_generation' ? { words: 500 } : undefined })).json();
          if (d.reservation) open.push(d.reservation.id);
        } else if (a.kind === 'settle' && open.length > 0) {
          await t.request({ method: 'POST', url: `/v1/reservations/${open.shift()}/settle`, token: key, payload: { credits: a.credits } });
        } else if (a.kind === 'release' && open.length > 0) {
          await t.request({ method: 'POST', url: `/v1/reservations/${open.pop()}/release`, token: key });
        } else if (a.kind === 'advance') {
          t.clock.advance(a.hours * 3_600_000);
          await t.deps.metering.sweep();
        }
      }
      await t.deps.decisionLog.flush();
      const end = today();
      // The tokens expired with the clock: the service answers what the route would.
      expect((await t.deps.usage.summary(owner.tenantId, { from: start, to: end })).days).toEqual(await recount(owner.tenantId, start, end));
    }), { numRuns: 12 });
  });
});

describe('GET …/usage/export', () => {
  const exportOf = (owner: SignedUp, query: string) => t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage/export${query}`, token: owner.accessToken });

  it('CSV (RFC 4180, formula cells defused) and NDJSON carry every record of the days, oldest first', async () => {
    const owner = await t.signup();
    const { key, id: keyId } = await keyOf(owner);
    const nasty = ['=HYPERLINK("http://x","y")', 'a,b', 'say"hi"', '+1', '-2', '@SUM(A1)', 'plain'];
    const runs = [];
    // The records span seven seconds of the clock: read every day they touch.
    const start = today();
    for (const k of nasty) {
      const d = (await authorize(key, { operation: 'clustering', idempotencyKey: k })).json();
      runs.push(d);
      await t.request({ method: 'POST', url: `/v1/reservations/${d.reservation.id}/settle`, token: key, payload: { credits: 1 } });
      t.clock.advance(1000);
    }

    const end = today();
    const csv = await exportOf(owner, `?format=csv&from=${start}&to=${end}`);
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe(`attachment; filename="usage-${owner.tenantId}-${start}-${end}.csv"`);
    const lines = csv.body.split('\r\n');
    expect(lines[0]).toBe('id,reservation_id,outcome,created_at,reserved_at,meter,bypass,operation,model,route,quantity,reserved,credits,actor_type,actor_id,role,idempotency_key');
    expect(lines).toHaveLength(nasty.length + 2);
    expect(lines.at(-1)).toBe('');
    expect(lines[1]).toMatch(new RegExp(`^usg_\\w{26},${runs[0].reservation.id},settled,[^,]+,[^,]+,runs,false,clustering,,`));
    // The route cell: the decision's route as JSON (jsonb keeps its keys in its own order), quoted per RFC 4180.
    const routeCell = /,"(\{.*?\})",/.exec(lines[1]!)?.[1];
    expect(JSON.parse(routeCell!.replaceAll('""', '"'))).toEqual(runs[0].route);
    expect(lines[1]!.endsWith(`}",,${runs[0].reservation.credits},1,api_key,${keyId},,"'=HYPERLINK(""http://x"",""y"")"`)).toBe(true);
    expect(lines.slice(2, -1).map((line) => line.slice(line.lastIndexOf(`${keyId},,`) + keyId.length + 2)))
      .toEqual(['"a,b"', '"say""hi"""', "'+1", "'-2", "'@SUM(A1)", 'plain']);

    const ndjson = await exportOf(owner, `?format=ndjson&from=${start}&to=${end}`);
    expect(ndjson.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const records = ndjson.body.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(records.map((r) => r.idempotencyKey)).toEqual(nasty);
    expect(records[0]).toEqual({
      id: expect.stringMatching(/^usg_/), reservationId: runs[0].reservation.id, outcome: 'settled', createdAt: expect.any(String), reservedAt: expect.any(String),
      meter: 'runs', bypass: false, operation: 'clustering', model: null, route: runs[0].route, quantity: null, reserved: runs[0].reservation.credits,
      credits: 1, actor: { type: 'api_key', id: keyId }, role: null, idempotencyKey: nasty[0],
    });
  });

  it('is every settled usage event (API.md), a row per settle; outcome=all adds the runs released or expired', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const start = today();
    const open = async (idempotencyKey: string) => (await authorize(key, { operation: 'clustering', idempotencyKey })).json().reservation.id as string;
    const settles = ['settled-1', 'settled-2', 'settled-3'];
    for (const k of settles) {
      const res = await t.request({ method: 'POST', url: `/v1/reservations/${await open(k)}/settle`, token: key, payload: { credits: 1 } });
      expect(res.statusCode, res.body).toBe(200);
      t.clock.advance(1); // records in the order made (ids are ordered within a millisecond only by chance)
    }
    expect((await t.request({ method: 'POST', url: `/v1/reservations/${await open('released')}/release`, token: key })).statusCode).toBe(200);
    t.clock.advance(1);
    await open('expired');
    t.clock.advance(3_600_000);
    expect((await t.deps.metering.sweep()).expired).toBeGreaterThanOrEqual(1);
    const range = `&from=${start}&to=${today()}`;
    // The owner's token expired with the clock: a new one.
    const signedIn = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: owner.email, password: owner.password } });
    const now = { ...owner, accessToken: signedIn.json().accessToken as string };
    const rows = async (query: string) => {
      const res = await exportOf(now, `?format=ndjson${range}${query}`);
      expect(res.statusCode, res.body).toBe(200);
      return res.body.trimEnd().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { outcome: string; idempotencyKey: string });
    };

    const settled = await rows('');
    expect(settled.map((r) => [r.outcome, r.idempotencyKey])).toEqual(settles.map((k) => ['settled', k]));
    expect(await rows('&outcome=settled')).toEqual(settled);
    expect((await rows('&outcome=all')).map((r) => [r.outcome, r.idempotencyKey])).toEqual([
      ...settles.map((k) => ['settled', k]), ['released', 'released'], ['expired', 'expired'],
    ]);
    // CSV: a header line and a line per settle, the outcome column kept.
    const csv = (await exportOf(now, `?format=csv${range}`)).body.split('\r\n').filter(Boolean);
    expect(csv).toHaveLength(1 + settles.length);
    expect(csv.slice(1).map((line) => line.split(',')[2])).toEqual(settles.map(() => 'settled'));
    expect((await exportOf(now, `?format=csv${range}&outcome=all`)).body.split('\r\n').filter(Boolean)).toHaveLength(1 + settles.length + 2);
    for (const bad of ['released', 'expired', 'any', '']) {
      const res = await exportOf(now, `?outcome=${bad}${range}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('from and to are whole UTC days: a record at 23:59:59.999 is in its day, one at midnight in the next', async () => {
    const owner = await t.signup();
    const day = '2026-06-15';
    const at = (iso: string) => ({
      tenantId: owner.tenantId, reservationId: `res_${iso.replace(/\D/g, '').padEnd(26, '0').slice(0, 26)}`, status: 'settled' as const, reserved: 1, charged: 1,
      quantity: null, operation: 'clustering', model: null, idempotencyKey: iso, actorType: 'system', actorId: null, role: null, meter: 'runs', bypass: false,
      route: null, reservedAt: new Date(iso), resolvedAt: new Date(iso),
    });
    await inTenant(t.deps.database.db, owner.tenantId, async (tx) => {
      for (const iso of ['2026-06-14T23:59:59.999Z', '2026-06-15T00:00:00.000Z', '2026-06-15T23:59:59.999Z', '2026-06-16T00:00:00.000Z']) await t.deps.usage.record(tx, at(iso));
    });
    const keys = async (query: string) => (await exportOf(owner, `?format=ndjson${query}`)).body.trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l).idempotencyKey);
    expect(await keys(`&from=${day}&to=${day}`)).toEqual(['2026-06-15T00:00:00.000Z', '2026-06-15T23:59:59.999Z']);
    expect(await keys('&from=2026-06-14&to=2026-06-16')).toHaveLength(4);
    expect(await keys('&from=2026-06-17&to=2026-06-18')).toEqual([]);
    expect((await exportOf(owner, '?format=xml')).json().error.code).toBe('VALIDATION_FAILED');
    expect((await exportOf(owner, '?from=2026-06-17&to=2026-06-16')).json().error.code).toBe('DATE_RANGE_INVERTED');
    const [summed] = (await summary(owner, `?from=${day}&to=${day}`)).days;
    expect(summed).toMatchObject({ meters: { runs: 2 }, credits: 2 });
  });

  it('a date-time is an instant: from included, to excluded; dates and instants mix', async () => {
    const owner = await t.signup();
    const at = (iso: string) => ({
      tenantId: owner.tenantId, reservationId: `res_${iso.replace(/\D/g, '').padEnd(26, '0').slice(0, 26)}`, status: 'settled' as const, reserved: 1, charged: 1,
      quantity: null, operation: 'clustering', model: null, idempotencyKey: iso, actorType: 'system', actorId: null, role: null, meter: 'runs', bypass: false,
      route: null, reservedAt: new Date(iso), resolvedAt: new Date(iso),
    });
    const times = ['2026-06-14T23:59:59.999Z', '2026-06-15T00:00:00.000Z', '2026-06-15T12:00:00.000Z', '2026-06-15T23:59:59.999Z', '2026-06-16T00:00:00.000Z'];
    await inTenant(t.deps.database.db, owner.tenantId, async (tx) => {
      for (const iso of times) await t.deps.usage.record(tx, at(iso));
    });
    const keys = async (query: string) => {
      const res = await exportOf(owner, `?format=ndjson${query}`);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(200);
      return res.body.trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l).idempotencyKey);
    };
    expect(await keys('&from=2026-06-15T00:00:00Z&to=2026-06-15T12:00:00Z')).toEqual([times[1]]);
    expect(await keys('&from=2026-06-15T00:00:00Z&to=2026-06-15T12:00:00.001Z')).toEqual([times[1], times[2]]);
    expect(await keys('&from=2026-06-14T23:59:59.999Z&to=2026-06-16T00:00:00Z')).toEqual(times.slice(0, 4));
    // An offset is the instant it names: 2026-06-15T14:00+02:00 is noon UTC.
    expect(await keys('&from=2026-06-15T14:00:00%2B02:00&to=2026-06-16')).toEqual(times.slice(2));
    // A date is its whole UTC day beside an instant: from the day's start, to the day's end.
    expect(await keys('&from=2026-06-15&to=2026-06-15T23:59:59.999Z')).toEqual([times[1], times[2]]);
    expect(await keys('&from=2026-06-15T12:00:00Z&to=2026-06-15')).toEqual([times[2], times[3]]);
    // Instants that meet: nothing between them.
    expect(await keys('&from=2026-06-15T12:00:00Z&to=2026-06-15T12:00:00Z')).toEqual([]);
    const named = await exportOf(owner, '?format=csv&from=2026-06-15T12:00:00Z&to=2026-06-16T00:00:00.5%2B00:00');
    expect(named.headers['content-disposition']).toBe(`attachment; filename="usage-${owner.tenantId}-20260615T120000Z-20260616T000000.500Z.csv"`);
    for (const [query, code] of [
      ['&from=2026-06-15T12:00:00.001Z&to=2026-06-15T12:00:00Z', 'DATE_RANGE_INVERTED'], ['&from=2026-06-16T00:00:00Z&to=2026-06-15', 'DATE_RANGE_INVERTED'],
      ['&from=2026-06-16&to=2026-06-15T23:59:59Z', 'DATE_RANGE_INVERTED'],
      ['&from=2025-06-15T00:00:00Z&to=2026-06-16T00:00:00.001Z', 'DATE_RANGE_TOO_LONG'], ['&from=2030-06-30T23:59:60Z', 'VALIDATION_FAILED'],
      ['&to=9999-12-31T23:59:59-23:59', 'VALIDATION_FAILED'], ['&from=2026-06-15T00:00:00', 'VALIDATION_FAILED'],
    ] as const) {
      const res = await exportOf(owner, `?format=ndjson${query}`);
      expect(res.statusCode, `${query}: ${res.body}`).toBe(400);
      expect(res.json().error.code, query).toBe(code);
    }
    // 366 days exactly is the longest range, as 366 dates are.
    expect((await exportOf(owner, '?from=2025-06-15T00:00:00Z&to=2026-06-16T00:00:00Z')).statusCode).toBe(200);
  });

  it('reads a page ahead of its reader at most, not the whole export (bounded memory)', async () => {
    const owner = await t.signup();
    const total = 3000;
    const pageSize = 50;
    await t.db.asOwner(`INSERT INTO usage_records (tenant_id, id, reservation_id, outcome, meter, operation, reserved, credits, idempotency_key, reserved_at, created_at)
      SELECT $1, 'usg_' || lpad(i::text, 26, '0'), 'res_' || lpad(i::text, 26, '0'), 'settled', 'runs', 'clustering', 5, 3, 'key-' || i,
             timestamptz '2026-05-01T00:00:00Z' + i * interval '1 second', timestamptz '2026-05-01T00:00:00Z' + i * interval '1 second'
        FROM generate_series(1, ${total}) AS i`, [owner.tenantId]);
    let fetched = 0;
    const usage = new UsageService(t.deps.database.db, t.clock, { exportPageSize: pageSize, maxRangeDays: 366, onExportPage: () => { fetched++; } });
    const { stream } = usage.export(owner.tenantId, { format: 'ndjson', from: '2026-05-01', to: '2026-05-01' });
    let rows = 0;
    let maxAhead = 0;
    let lastId = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lines = chunk.toString('utf8').split('\n').filter(Boolean);
      rows += lines.length;
      lastId = JSON.parse(lines.at(-1)!).id;
      // Pages read beyond those the reader has had so far.
      maxAhead = Math.max(maxAhead, fetched - Math.ceil(rows / pageSize));
      // A slow reader: several turns of the event loop per chunk, giving the stream every chance to read ahead.
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(rows).toBe(total);
    expect(lastId).toBe(`usg_${String(total).padStart(26, '0')}`);
    expect(fetched).toBe(total / pageSize + 1);
    expect(maxAhead).toBeLessThanOrEqual(4);
  });
});

describe('csvField', () => {
  it('quotes per RFC 4180 and defuses formula cells; numbers and booleans stay as they are', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(-3)).toBe('-3');
    expect(csvField(false)).toBe('false');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('cr\rx')).toBe('"cr\rx"');
    expect(csvField('\tTAB')).toBe('"\'\tTAB"');
    // A spreadsheet splitting on ; (many locales) must see one cell, not a formula in the second.
    expect(csvField('run;=1+2;@SUM(1;1)')).toBe('"run;=1+2;@SUM(1;1)"');
    expect(csvField('a\t=1+2')).toBe('"a\t=1+2"');
    expect(csvField('=1+1,2')).toBe('"\'=1+1,2"');
    expect(csvField('a=b')).toBe('a=b');
  });
});
