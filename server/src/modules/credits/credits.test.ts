import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTenant } from '../../db/scope.js';
import { onPostgres, snapshot, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { addMonthUtc } from '../billing/index.js';

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ poolSize: 25 }); });
afterAll(async () => { await t.close(); });

const credits = async (who: SignedUp) => (await t.request({ method: 'GET', url: `/v1/tenants/${who.tenantId}/credits`, token: who.accessToken })).json();
const settle = (who: SignedUp, id: string, payload: object = {}) => t.request({ method: 'POST', url: `/v1/reservations/${id}/settle`, token: who.accessToken, payload });
const release = (who: SignedUp, id: string) => t.request({ method: 'POST', url: `/v1/reservations/${id}/release`, token: who.accessToken });

async function ledgerSum(tenantId: string): Promise<{ amount: number; hold: number; entries: number }> {
  const [row] = await t.db.asOwner<{ amount: string; hold: string; n: string }>(
    'SELECT coalesce(sum(amount), 0) AS amount, coalesce(sum(hold), 0) AS hold, count(*) AS n FROM credit_ledger WHERE tenant_id = $1', [tenantId]);
  return { amount: Number(row!.amount), hold: Number(row!.hold), entries: Number(row!.n) };
}

describe('credits', () => {
  it('signup grants the plan\'s credits in the signup transaction', async () => {
    const alice = await t.signup();
    expect(await credits(alice)).toEqual({ balance: 100, reserved: 0, available: 100 });
    const ledger = (await t.request({ method: 'GET', url: `/v1/tenants/${alice.tenantId}/credits/ledger`, token: alice.accessToken })).json();
    expect(ledger.entries).toEqual([expect.objectContaining({ kind: 'grant', amount: 100, balanceAfter: 100, actor: { type: 'system', id: null } })]);
  });

  it('in-process calls with numbers the API would refuse are VALIDATION_FAILED, never a database error, and write nothing', async () => {
    const alice = await t.signup();
    const caller = { tenantId: alice.tenantId };
    const held = await t.deps.metering.reserve(caller, { credits: 10, idempotencyKey: 'bad-numbers' });
    if (!held.ok) throw new Error('no reservation');
    const before = await snapshot(t.db);
    const calls: [string, () => Promise<unknown>][] = [
      ['settle -500', () => t.deps.metering.settle(caller, held.value.reservation.id, { credits: -500 })],
      ['settle 2.5', () => t.deps.metering.settle(caller, held.value.reservation.id, { credits: 2.5 })],
      ['consume -10', () => t.deps.metering.consume(caller, 'runs', -10)],
      ['consume 1.5', () => t.deps.metering.consume(caller, 'runs', 1.5)],
      ['reserve ttl 1e20', () => t.deps.metering.reserve(caller, { credits: 1, idempotencyKey: 'ttl-huge', ttlSeconds: 1e20 })],
      ['reserve ttl 0', () => t.deps.metering.reserve(caller, { credits: 1, idempotencyKey: 'ttl-zero', ttlSeconds: 0 })],
      // Quantities as the routes' schema takes them (whole, 0 to 1e12): a negative count would take from the price.
      ['settle words -500', () => t.deps.metering.settle(caller, held.value.reservation.id, { quantity: { words: -500 } })],
      ['settle words 2.5', () => t.deps.metering.settle(caller, held.value.reservation.id, { quantity: { words: 2.5 } })],
      ['settle inputTokens -500000', () => t.deps.metering.settle(caller, held.value.reservation.id, { quantity: { inputTokens: -500_000, outputTokens: 100 } })],
      ['reserve words -5000', () => t.deps.metering.reserve(caller, { operation: 'content', quantity: { words: -5000 }, idempotencyKey: 'negative' })],
      ['reserve words 1e13', () => t.deps.metering.reserve(caller, { operation: 'content', quantity: { words: 1e13 }, idempotencyKey: 'huge' })],
      ['reserve credits 2.5', () => t.deps.metering.reserve(caller, { credits: 2.5, idempotencyKey: 'fraction' })],
      ['reserve an unknown field', () => t.deps.metering.reserve(caller, { credits: 1, idempotencyKey: 'unknown', priority: 1 } as never)],
      ['preview words -5000', async () => t.deps.metering.previewCost({ operation: 'content', quantity: { words: -5000 } })],
      ['preview words 150.5', async () => t.deps.metering.previewCost({ operation: 'content', quantity: { words: 150.5 } })],
      // A lease's time to live as a reservation's: NaN or 1e20 would be an Invalid Date, -600 a slot taken already expired.
      ['acquireRun ttl NaN', () => t.deps.metering.acquireRun(caller, 'lease-nan', Number.NaN)],
      ['acquireRun ttl 1e20', () => t.deps.metering.acquireRun(caller, 'lease-huge', 1e20)],
      ['acquireRun ttl -600', () => t.deps.metering.acquireRun(caller, 'lease-negative', -600)],
      ['acquireRun ttl 2.5', () => t.deps.metering.acquireRun(caller, 'lease-fraction', 2.5)],
    ];
    for (const [name, call] of calls) {
      const outcome = await call().then(() => 'resolved', (error: { code?: string }) => error.code ?? String(error));
      expect([name, outcome]).toEqual([name, 'VALIDATION_FAILED']);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('in-process reserve needs an operation it knows or the credits to hold; it never holds nothing by default', async () => {
    const alice = await t.signup();
    const caller = { tenantId: alice.tenantId };
    await expect(t.deps.metering.reserve(caller, { idempotencyKey: 'none' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(t.deps.metering.reserve(caller, { operation: 'teleport', credits: 5, idempotencyKey: 'unknown' })).rejects.toMatchObject({ code: 'OPERATION_NOT_FOUND' });
    await expect(t.deps.metering.reserve(caller, { operation: 'content', quantity: { word_count: 5000 }, idempotencyKey: 'misspelt' })).rejects.toMatchObject({ code: 'QUANTITY_NOT_PRICED' });
    expect(await credits(alice)).toEqual({ balance: 100, reserved: 0, available: 100 });
    const fixed = await t.deps.metering.reserve(caller, { operation: 'content', credits: 7, idempotencyKey: 'fixed' });
    expect(fixed).toMatchObject({ ok: true, value: { reservation: { credits: 7, operation: 'content_generation' } } });
    // Credits named: the operation is recorded, not priced (a per-model price needs no model then).
    const perModel = await t.deps.metering.reserve(caller, { operation: 'chat', credits: 5, idempotencyKey: 'per-model' });
    expect(perModel).toMatchObject({ ok: true, value: { reservation: { credits: 5, operation: 'chat' } } });
  });

  it('reserve → partial settle charges the actual cost and releases the rest; settle and release are idempotent', async () => {
    const alice = await t.signup();
    const r = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { operation: 'content', quantity: { words: 1200 }, idempotencyKey: 'run-1' });
    expect(r).toMatchObject({ ok: true, value: { replayed: false, reservation: { status: 'held', credits: 12, operation: 'content_generation' }, credits: { balance: 100, reserved: 12, available: 88 } } });
    if (!r.ok) return;
    expect(await credits(alice)).toEqual({ balance: 100, reserved: 12, available: 88 });
    const first = await settle(alice, r.value.reservation.id, { quantity: { words: 950 } });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ replayed: false, reservation: { status: 'settled', charged: 10 }, credits: { balance: 90, reserved: 0, available: 90 } });
    expect((await settle(alice, r.value.reservation.id, { quantity: { words: 950 } })).json()).toMatchObject({ replayed: true, reservation: { charged: 10 } });
    expect((await settle(alice, r.value.reservation.id, { credits: 3 })).json().error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect((await release(alice, r.value.reservation.id)).json().error.code).toBe('RESERVATION_RESOLVED');
    // The grant and the settlement (which let its hold of 12 go); the hold itself was never an entry.
    expect(await ledgerSum(alice.tenantId)).toEqual({ amount: 90, hold: -12, entries: 2 });
  });

  it('settle never charges more than was reserved; release frees everything, twice is a replay', async () => {
    const alice = await t.signup();
    const a = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { operation: 'clustering', idempotencyKey: 'a' });
    const b = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 30, idempotencyKey: 'b' });
    if (!a.ok || !b.ok) throw new Error('reserve failed');
    expect((await settle(alice, a.value.reservation.id, { credits: 500 })).json()).toMatchObject({ reservation: { charged: 10 } });
    expect((await release(alice, b.value.reservation.id)).json()).toMatchObject({ replayed: false, reservation: { status: 'released', charged: 0 }, credits: { balance: 90, reserved: 0 } });
    expect((await release(alice, b.value.reservation.id)).json()).toMatchObject({ replayed: true });
    expect((await settle(alice, b.value.reservation.id)).json().error.code).toBe('RESERVATION_RESOLVED');
  });

  it('refuses a reservation the available credits do not cover, and writes nothing', async () => {
    const alice = await t.signup();
    const before = await snapshot(t.db);
    const r = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 101, idempotencyKey: 'too-big' });
    expect(r).toMatchObject({ ok: false, error: { code: 'INSUFFICIENT_CREDITS', credits: { available: 100 } } });
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('the same idempotency key with another request is IDEMPOTENCY_CONFLICT', async () => {
    const alice = await t.signup();
    await t.deps.metering.reserve({ tenantId: alice.tenantId }, { operation: 'content', quantity: { words: 100 }, idempotencyKey: 'k' });
    await expect(t.deps.metering.reserve({ tenantId: alice.tenantId }, { operation: 'content', quantity: { words: 900 }, idempotencyKey: 'k' }))
      .rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
  });

  it('a reserve key that reads like a decision\'s is its own: it never replays the reservation the decision opened (0018)', async () => {
    const alice = await t.signup();
    const decided = (await t.request({ method: 'POST', url: '/v1/authorize', token: alice.accessToken, payload: { operation: 'clustering' } })).json();
    expect(decided).toMatchObject({ allowed: true, reservation: { credits: 10 } });
    const r = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { operation: 'clustering', idempotencyKey: `authorize:${decided.decisionId}` });
    expect(r).toMatchObject({ ok: true, value: { replayed: false, reservation: { credits: 10 } } });
    expect(r.ok && r.value.reservation.id).not.toBe(decided.reservation.id);
    expect(await credits(alice)).toEqual({ balance: 100, reserved: 20, available: 80 });
    // And it is still one reservation per key for the reserve route's own calls.
    const again = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { operation: 'clustering', idempotencyKey: `authorize:${decided.decisionId}` });
    expect(again).toMatchObject({ ok: true, value: { replayed: true } });
    expect(again.ok && r.ok && again.value.reservation.id).toBe(r.ok && r.value.reservation.id);
  });

  it('20 concurrent reservations with one idempotency key have one ledger effect', async () => {
    const alice = await t.signup();
    const results = await Promise.all(Array.from({ length: 20 }, () =>
      t.deps.metering.reserve({ tenantId: alice.tenantId }, { operation: 'image_generation', idempotencyKey: 'same-run' })));
    const ids = new Set(results.map((r) => (r.ok ? r.value.reservation.id : 'denied')));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.ok && !r.value.replayed)).toHaveLength(1);
    expect(await credits(alice)).toEqual({ balance: 100, reserved: 5, available: 95 });
    // The grant only: a hold is its reservation row, not a ledger entry.
    expect(await ledgerSum(alice.tenantId)).toEqual({ amount: 100, hold: 0, entries: 1 });
  });

  it('an unsettled reservation expires: settling late is refused, the sweeper releases the others', async () => {
    const alice = await t.signup();
    const late = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 20, idempotencyKey: 'late', ttlSeconds: 60 });
    const idle = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 30, idempotencyKey: 'idle', ttlSeconds: 60 });
    const fresh = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 5, idempotencyKey: 'fresh', ttlSeconds: 600 });
    if (!late.ok || !idle.ok || !fresh.ok) throw new Error('reserve failed');
    t.clock.advance(60_000);
    const refused = await settle(alice, late.value.reservation.id);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('RESERVATION_EXPIRED');
    const swept = await t.deps.metering.sweep();
    expect(swept.expired).toBeGreaterThanOrEqual(1);
    expect(await t.deps.metering.reservation({ tenantId: alice.tenantId }, idle.value.reservation.id)).toMatchObject({ status: 'expired' });
    expect(await t.deps.metering.reservation({ tenantId: alice.tenantId }, fresh.value.reservation.id)).toMatchObject({ status: 'held' });
    expect((await release(alice, idle.value.reservation.id)).json()).toMatchObject({ replayed: true, reservation: { status: 'expired' } });
    expect(await credits(alice)).toEqual({ balance: 100, reserved: 5, available: 95 });
    const kinds = (await t.deps.metering.ledger(alice.tenantId)).entries.map((e) => e.kind).sort();
    // Expiring moved no balance: the grant is the only entry.
    expect(kinds).toEqual(['grant']);
  });

  it('a hold past its expiry is not reported reserved, nor refuses a reserve, before the sweeper comes: it expires as the sweeper would expire it', async () => {
    const alice = await t.signup();
    const stale = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 60, idempotencyKey: 'stale', ttlSeconds: 60 });
    const older = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 30, idempotencyKey: 'older', ttlSeconds: 60 });
    if (!stale.ok || !older.ok) throw new Error('reserve failed');
    t.clock.advance(60_000);
    // A reserve the account as it stood would refuse: the expired holds go first.
    const fits = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 50, idempotencyKey: 'fits' });
    expect(fits).toMatchObject({ ok: true, value: { credits: { balance: 100, reserved: 50, available: 50 } } });
    for (const r of [stale, older]) {
      expect(await t.deps.metering.reservation({ tenantId: alice.tenantId }, r.value.reservation.id)).toMatchObject({ status: 'expired', charged: 0 });
    }
    t.clock.advance(600_000);
    expect(await credits(alice)).toEqual({ balance: 100, reserved: 0, available: 100 });
    if (!fits.ok) return;
    expect(await t.deps.metering.reservation({ tenantId: alice.tenantId }, fits.value.reservation.id)).toMatchObject({ status: 'expired' });
    const records = await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM usage_records WHERE tenant_id = $1', [alice.tenantId]);
    expect(records.map((r) => r.outcome)).toEqual(['expired', 'expired', 'expired']);
    expect(await t.db.asOwner("SELECT id FROM credit_reservations WHERE tenant_id = $1 AND status = 'held'", [alice.tenantId])).toEqual([]);
    expect(await ledgerSum(alice.tenantId)).toEqual({ amount: 100, hold: 0, entries: 1 });
  });

  it.skipIf(!onPostgres)('a settle meeting its twin\'s, made while live and committed past the expiry, answers the twin\'s outcome', async () => {
    const alice = await t.signup();
    const reserved = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 20, idempotencyKey: 'twins', ttlSeconds: 60 });
    if (!reserved.ok) throw new Error('reserve failed');
    const id = reserved.value.reservation.id;
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => { letGo = resolve; });
    let settledFirst!: () => void;
    const firstSettled = new Promise<void>((resolve) => { settledFirst = resolve; });
    // The first settles while the reservation is live, and holds its transaction open.
    const first = inTenant(t.deps.database.db, alice.tenantId, async (tx) => {
      const answer = await t.deps.reservations.settle(tx, alice.tenantId, id, { credits: 7 }, { type: 'system', id: null });
      settledFirst();
      await held;
      return answer;
    });
    await firstSettled;
    t.clock.advance(60_000);
    // The twin reads it still held and past its expiry; expiring it waits on the first's row lock.
    const second = t.deps.metering.settle({ tenantId: alice.tenantId }, id, { credits: 7 });
    for (let waited = 0; ; waited += 10) {
      const [row] = await t.db.asOwner<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      if (row!.n > 0) break;
      if (waited > 5_000) throw new Error('the twin never waited on the row lock');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    letGo();
    expect(await first).toMatchObject({ ok: true, value: { replayed: false, reservation: { status: 'settled', charged: 7 } } });
    expect(await second).toMatchObject({ ok: true, value: { replayed: true, reservation: { status: 'settled', charged: 7 } } });
    expect(await credits(alice)).toEqual({ balance: 93, reserved: 0, available: 93 });
  });

  it('a run granted before the tenant lost its standing is still settled and charged (suspended; cancelled, as a trial that ended); new runs are refused', async () => {
    const operator = await t.operator();
    const cases: [string, (o: SignedUp) => Promise<void>, string][] = [
      ['suspended by an operator', async (o) => {
        const res = await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${o.tenantId}`, token: operator.accessToken, payload: { status: 'suspended' } });
        expect(res.statusCode, res.body).toBe(200);
      }, 'TENANT_SUSPENDED'],
      ['cancelled at once by its owner', async (o) => {
        const res = await t.request({ method: 'POST', url: `/v1/tenants/${o.tenantId}/subscription/cancel`, token: o.accessToken, payload: { atPeriodEnd: false } });
        expect(res.statusCode, res.body).toBe(200);
      }, 'PAYMENT_REQUIRED'],
    ];
    for (const [what, lose, code] of cases) {
      const o = await t.signup();
      const key = (await t.request({ method: 'POST', url: `/v1/tenants/${o.tenantId}/api-keys`, token: o.accessToken, payload: { name: 'backend', scopes: ['authorize'] } })).json().key as string;
      const decision = (await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).json();
      expect(decision.allowed, what).toBe(true);
      await lose(o);
      const refused = (await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).json();
      expect([what, refused.code]).toEqual([what, code]);
      const settled = await t.request({ method: 'POST', url: `/v1/reservations/${decision.reservation.id}/settle`, token: key, payload: { credits: 7 } });
      expect([what, settled.statusCode, settled.body]).toEqual([what, 200, expect.any(String)]);
      expect(settled.json().reservation).toMatchObject({ status: 'settled', charged: 7 });
      const ledger = await ledgerSum(o.tenantId);
      expect([what, ledger.amount]).toEqual([what, 93]);
    }
  });

  it('refunds give back at most what a settlement charged, once per key', async () => {
    const alice = await t.signup();
    const r = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 10, idempotencyKey: 'r' });
    if (!r.ok) throw new Error('reserve failed');
    await t.deps.metering.settle({ tenantId: alice.tenantId }, r.value.reservation.id);
    const refund = { reservationId: r.value.reservation.id, amount: 6, idempotencyKey: 'refund-1', reason: 'provider failed' };
    expect(await t.deps.metering.refund({ tenantId: alice.tenantId }, refund)).toMatchObject({ replayed: false, credits: { balance: 96 } });
    expect(await t.deps.metering.refund({ tenantId: alice.tenantId }, refund)).toMatchObject({ replayed: true, credits: { balance: 96 } });
    await expect(t.deps.metering.refund({ tenantId: alice.tenantId }, { ...refund, amount: 5, idempotencyKey: 'refund-2' })).rejects.toMatchObject({ code: 'REFUND_EXCEEDS_CHARGE' });
  });

  it('grants the plan\'s credits once per period: lazily on read, or by the sweeper for idle tenants', async () => {
    const alice = await t.signup();
    const idle = await t.signup();
    const end = new Date((await t.deps.tenancy.getTenant(alice.tenantId)).subscription!.currentPeriodEnd);
    const saved = t.clock.now();
    try {
      t.clock.set(end.getTime() + 5000);
      expect(await t.deps.metering.credits(alice.tenantId)).toMatchObject({ balance: 200 });
      expect(await t.deps.metering.credits(alice.tenantId)).toMatchObject({ balance: 200 });
      const sweep = await t.deps.metering.sweep();
      expect(sweep.rolled).toBeGreaterThanOrEqual(1);
      await t.deps.metering.sweep();
      expect(await t.deps.metering.credits(alice.tenantId)).toMatchObject({ balance: 200 });
      const grants = await t.db.asOwner('SELECT idempotency_key FROM credit_ledger WHERE tenant_id = $1 AND kind = $2', [idle.tenantId, 'grant']);
      expect(grants).toHaveLength(2);
      t.clock.set(addMonthUtc(end).getTime() - 1);
      expect(await t.deps.metering.credits(alice.tenantId)).toMatchObject({ balance: 200 });
    } finally {
      t.clock.set(saved);
    }
  });

  it('the ledger pages newest first and always sums to the balance', async () => {
    const alice = await t.signup();
    for (let i = 0; i < 5; i++) {
      t.clock.advance(1);
      const r = await t.deps.metering.reserve({ tenantId: alice.tenantId }, { credits: 1, idempotencyKey: `p-${i}` });
      // Settled, so each run is an entry (a hold alone moves no balance and is not ledgered).
      if (r.ok) await t.deps.metering.settle({ tenantId: alice.tenantId }, r.value.reservation.id, { credits: 1 });
    }
    const seen: { id: string; createdAt: string }[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: { id: string; createdAt: string }[]; nextCursor: string | null } = (await t.request({
        method: 'GET', url: `/v1/tenants/${alice.tenantId}/credits/ledger?limit=2${cursor ? `&cursor=${cursor}` : ''}`, token: alice.accessToken,
      })).json();
      seen.push(...page.entries);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(6);
    expect(new Set(seen.map((e) => e.id)).size).toBe(6);
    expect([...seen].sort((a, b) => b.createdAt.localeCompare(a.createdAt))).toEqual(seen);
    const sums = await ledgerSum(alice.tenantId);
    expect(await credits(alice)).toEqual({ balance: sums.amount, reserved: 0, available: sums.amount });
    expect(sums.amount).toBe(95);
  });
});

describe('operator credit adjustments', () => {
  it('grant and take away with a reason, audited, once per idempotency key', async () => {
    const op = await t.operator();
    const alice = await t.signup();
    const url = `/v1/admin/tenants/${alice.tenantId}/credits`;
    const grant = await t.request({ method: 'POST', url, token: op.accessToken, payload: { amount: 50, reason: 'goodwill', idempotencyKey: 'ticket-7' } });
    expect(grant.statusCode).toBe(200);
    expect(grant.json()).toMatchObject({ replayed: false, entry: { kind: 'grant', amount: 50, reason: 'goodwill', actor: { type: 'operator', id: op.userId } }, credits: { balance: 150 } });
    const again = await t.request({ method: 'POST', url, token: op.accessToken, payload: { amount: 50, reason: 'goodwill', idempotencyKey: 'ticket-7' } });
    expect(again.json()).toMatchObject({ replayed: true, entry: { id: grant.json().entry.id } });
    const conflict = await t.request({ method: 'POST', url, token: op.accessToken, payload: { amount: 60, reason: 'goodwill', idempotencyKey: 'ticket-7' } });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.code).toBe('IDEMPOTENCY_CONFLICT');
    const take = await t.request({ method: 'POST', url, token: op.accessToken, payload: { amount: -40, reason: 'chargeback', idempotencyKey: 'ticket-8' } });
    expect(take.json()).toMatchObject({ entry: { kind: 'adjust', amount: -40 }, credits: { balance: 110 } });
    const tooMuch = await t.request({ method: 'POST', url, token: op.accessToken, payload: { amount: -111, reason: 'x', idempotencyKey: 'ticket-9' } });
    expect(tooMuch.json().error.code).toBe('INSUFFICIENT_CREDITS');
    const audit = (await t.request({ method: 'GET', url: `/v1/admin/tenants/${alice.tenantId}/audit?action=credits.adjust`, token: op.accessToken })).json();
    expect(audit.entries).toHaveLength(2);
    expect((await t.request({ method: 'POST', url, token: alice.accessToken, payload: { amount: 5, reason: 'me', idempotencyKey: 'self' } })).statusCode).toBe(403);
    const missing = await t.request({ method: 'POST', url: '/v1/admin/tenants/tnt_00000000000000000000000000/credits', token: op.accessToken, payload: { amount: 5, reason: 'x', idempotencyKey: 'y' } });
    expect(missing.statusCode).toBe(404);
  });
});

describe('cost preview', () => {
  it('prices an operation without any side effect', async () => {
    const alice = await t.signup();
    const before = await snapshot(t.db);
    const res = await t.request({ method: 'POST', url: '/v1/costs/preview', token: alice.accessToken, payload: { operation: 'content', quantity: { words: 1200 } } });
    expect(res.json()).toMatchObject({ operation: 'content_generation', credits: 12, module: 'writer', meter: 'runs' });
    const chat = await t.request({ method: 'POST', url: '/v1/costs/preview', token: alice.accessToken, payload: { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: { inputTokens: 1000, outputTokens: 1000 } } });
    expect(chat.json().credits).toBe(18);
    expect(await snapshot(t.db)).toEqual(before);
    expect((await t.request({ method: 'POST', url: '/v1/costs/preview', payload: { operation: 'content' } })).statusCode).toBe(401);
  });
});

describe('the balance stays a safe integer', () => {
  it('a grant that would take the balance past 2^53 - 1 is refused, writes nothing, and the amounts stay exact', async () => {
    const alice = await t.signup();
    const op = await t.operator();
    const near = Number.MAX_SAFE_INTEGER - 100 - 500;
    await inTenant(t.deps.database.db, alice.tenantId, (x) => t.deps.credits.change(x, { tenantId: alice.tenantId, amount: near, idempotencyKey: 'near', reason: null, actor: { type: 'system', id: null } }));
    expect(await credits(alice)).toMatchObject({ balance: Number.MAX_SAFE_INTEGER - 500 });
    const before = await snapshot(t.db);
    const grant = (amount: number, idempotencyKey: string) => t.request({ method: 'POST', url: `/v1/admin/tenants/${alice.tenantId}/credits`, token: op.accessToken, payload: { amount, reason: 'top', idempotencyKey } });
    const refused = await grant(501, 'past');
    expect([refused.statusCode, refused.json().error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(await snapshot(t.db)).toEqual(before);
    // Up to the last safe integer is fine, and each step is counted exactly.
    expect((await grant(499, 'to-the-edge')).json().entry.balanceAfter).toBe(Number.MAX_SAFE_INTEGER - 1);
    expect((await grant(1, 'last')).json().entry.balanceAfter).toBe(Number.MAX_SAFE_INTEGER);
    expect(await credits(alice)).toMatchObject({ balance: Number.MAX_SAFE_INTEGER });
  });
});
