import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPostgres, startTestApp, type TestApp } from '../../../test/harness.js';
import { accountViolations, reservationViolations, type Query } from '../../../test/invariants.js';
import { inTenant } from '../../db/scope.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';

/**
 * A model of the credit account (balance, reserved, reservations) checked against the
 * database after every step of random grant/adjust/reserve/settle/release/expire/refund
 * sequences over several tenants: available ≥ 0, balance = Σ ledger, reserved = Σ held
 * reservations, the account matches the model, and no reservation is resolved twice.
 */
let t: TestApp;
beforeAll(async () => { t = await startTestApp({ poolSize: 25 }); });
afterAll(async () => { await t.close(); });

const SYSTEM = { type: 'system' as const, id: null };
const TENANTS = 2;

interface ModelReservation { tenant: number; id: string; amount: number; status: 'held' | 'settled' | 'released' | 'expired'; charged: number; refunded: number; expiresAt: number }
interface Model { balance: number[]; reserved: number[]; reservations: ModelReservation[]; tenantIds: string[]; keys: number }

/** Take-away and reserve amounts are shares (%) of what the tenant has, so they land near the edges. */
type Command =
  | { kind: 'grant'; tenant: number; amount: number }
  | { kind: 'take'; tenant: number; share: number }
  | { kind: 'reserve'; tenant: number; share: number; ttl: number }
  | { kind: 'settle'; pick: number; charge: number }
  | { kind: 'release'; pick: number }
  | { kind: 'refund'; pick: number; amount: number }
  | { kind: 'advance'; seconds: number };

const tenant = fc.integer({ min: 0, max: TENANTS - 1 });
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('grant' as const), tenant, amount: fc.integer({ min: 1, max: 100 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('take' as const), tenant, share: fc.integer({ min: 1, max: 150 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('reserve' as const), tenant, share: fc.integer({ min: 0, max: 120 }), ttl: fc.integer({ min: 30, max: 600 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), charge: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('refund' as const), pick: fc.nat(), amount: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), seconds: fc.integer({ min: 1, max: 300 }) }) },
);

const tx = <T>(tenantId: string, fn: Parameters<typeof inTenant<T>>[2]) => inTenant(t.deps.database.db, tenantId, fn);

async function step(m: Model, c: Command): Promise<void> {
  const { credits, reservations } = t.deps;
  const now = t.clock.now().getTime();
  const pick = (n: number) => m.reservations[n % Math.max(1, m.reservations.length)];
  if (c.kind === 'grant' || c.kind === 'take') {
    const tenantId = m.tenantIds[c.tenant]!;
    const amount = c.kind === 'grant' ? c.amount : -Math.max(1, Math.ceil((m.balance[c.tenant]! * c.share) / 100));
    const r = await tx(tenantId, (x) => credits.change(x, { tenantId, amount, idempotencyKey: `g${m.keys++}`, reason: null, actor: SYSTEM }));
    const fits = m.balance[c.tenant]! + amount >= m.reserved[c.tenant]!;
    expect(r.ok).toBe(fits);
    if (fits) m.balance[c.tenant]! += amount;
  } else if (c.kind === 'reserve') {
    const tenantId = m.tenantIds[c.tenant]!;
    const amount = Math.floor(((m.balance[c.tenant]! - m.reserved[c.tenant]!) * c.share) / 100);
    const r = await tx(tenantId, (x) => reservations.reserve(x, { tenantId, amount, idempotencyKey: `r${m.keys++}`, ttlSeconds: c.ttl, actor: SYSTEM }));
    const fits = m.balance[c.tenant]! - m.reserved[c.tenant]! >= amount;
    expect(r.ok).toBe(fits);
    if (r.ok) {
      m.reserved[c.tenant]! += amount;
      m.reservations.push({ tenant: c.tenant, id: r.value.reservation.id, amount, status: 'held', charged: 0, refunded: 0, expiresAt: now + c.ttl * 1000 });
    }
  } else if (c.kind === 'settle' || c.kind === 'release') {
    const r = pick(c.pick);
    if (!r) return;
    const tenantId = m.tenantIds[r.tenant]!;
    const result = c.kind === 'settle'
      ? await tx(tenantId, (x) => reservations.settle(x, tenantId, r.id, { credits: c.charge }, SYSTEM)).catch((e: AppError) => e)
      : await tx(tenantId, (x) => reservations.release(x, tenantId, r.id, SYSTEM));
    if (r.status !== 'held') return;
    if (c.kind === 'settle' && r.expiresAt <= now) {
      r.status = 'expired';
      m.reserved[r.tenant]! -= r.amount;
      expect(result).toMatchObject({ ok: false, error: 'RESERVATION_EXPIRED' });
      return;
    }
    r.status = c.kind === 'settle' ? 'settled' : 'released';
    r.charged = c.kind === 'settle' ? Math.min(c.charge, r.amount) : 0;
    m.reserved[r.tenant]! -= r.amount;
    m.balance[r.tenant]! -= r.charged;
    expect(result).toMatchObject({ ok: true, value: { replayed: false } });
  } else if (c.kind === 'refund') {
    const r = pick(c.pick);
    if (!r) return;
    const tenantId = m.tenantIds[r.tenant]!;
    const allowed = r.status === 'settled' && r.refunded + c.amount <= r.charged;
    const result = await tx(tenantId, (x) => reservations.refund(x, { tenantId, reservationId: r.id, amount: c.amount, idempotencyKey: `f${m.keys++}`, reason: null, actor: SYSTEM }))
      .then(() => 'ok', (e: AppError) => e.code);
    expect(result).toBe(allowed ? 'ok' : 'REFUND_EXCEEDS_CHARGE');
    if (allowed) {
      r.refunded += c.amount;
      m.balance[r.tenant]! += c.amount;
    }
  } else {
    t.clock.advance(c.seconds * 1000);
    await t.deps.metering.sweep();
    const at = t.clock.now().getTime();
    for (const r of m.reservations) {
      if (r.status === 'held' && r.expiresAt <= at) {
        r.status = 'expired';
        m.reserved[r.tenant]! -= r.amount;
      }
    }
  }
}

async function checkInvariants(m: Model): Promise<void> {
  const query: Query = (text, params) => t.db.asOwner(text, params);
  // balance = Σ ledger, reserved = Σ held reservations, available ≥ 0; one resolution per reservation, only a settlement ledgered.
  expect([...await accountViolations(query, m.tenantIds), ...await reservationViolations(query, m.tenantIds)]).toEqual([]);
  const accounts = await t.db.asOwner<{ tenant_id: string; balance: string; reserved: string }>(
    'SELECT a.tenant_id, a.balance, a.reserved FROM credit_accounts a WHERE a.tenant_id = ANY($1)', [m.tenantIds]);
  for (const a of accounts) {
    const i = m.tenantIds.indexOf(a.tenant_id);
    expect([Number(a.balance), Number(a.reserved)]).toEqual([m.balance[i], m.reserved[i]]);
  }
  const statuses = await t.db.asOwner<{ id: string; status: string }>('SELECT id, status FROM credit_reservations WHERE tenant_id = ANY($1)', [m.tenantIds]);
  const byId = new Map(statuses.map((s) => [s.id, s.status]));
  for (const r of m.reservations) expect(byId.get(r.id)).toBe(r.status);
}

describe('the credit ledger (model-based)', () => {
  it('keeps available ≥ 0, balance = Σ ledger and one resolution per reservation over random sequences', async () => {
    await fc.assert(fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 30, size: 'max' }), async (commands) => {
      const m: Model = { balance: Array(TENANTS).fill(0), reserved: Array(TENANTS).fill(0), reservations: [], tenantIds: [], keys: 0 };
      for (let i = 0; i < TENANTS; i++) {
        const tenantId = newId('tnt');
        m.tenantIds.push(tenantId);
        await tx(tenantId, (x) => t.deps.credits.open(x, tenantId));
      }
      for (const c of commands) {
        await step(m, c);
        await checkInvariants(m);
      }
    }), { numRuns: onPostgres ? 30 : 15 });
  });
});

describe('a negative adjustment beyond what is available', () => {
  it('is refused and changes nothing', async () => {
    const m: Model = { balance: Array(TENANTS).fill(0), reserved: Array(TENANTS).fill(0), reservations: [], tenantIds: [newId('tnt'), newId('tnt')], keys: 0 };
    for (const tenantId of m.tenantIds) await tx(tenantId, (x) => t.deps.credits.open(x, tenantId));
    for (const c of [{ kind: 'grant', tenant: 0, amount: 50 }, { kind: 'reserve', tenant: 0, share: 80, ttl: 60 }, { kind: 'take', tenant: 0, share: 40 }] as Command[]) {
      await step(m, c);
      await checkInvariants(m);
    }
    expect(m.balance[0]).toBe(50);
  });
});

describe('settle racing release racing expiry', () => {
  it('resolves every reservation exactly once, whoever wins', async () => {
    const tenantId = newId('tnt');
    await tx(tenantId, async (x) => {
      await t.deps.credits.open(x, tenantId);
      await t.deps.credits.change(x, { tenantId, amount: 1000, idempotencyKey: 'seed', reason: null, actor: SYSTEM });
    });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await tx(tenantId, (x) => t.deps.reservations.reserve(x, { tenantId, amount: 10, idempotencyKey: `race-${i}`, ttlSeconds: 60, actor: SYSTEM }));
      if (r.ok) ids.push(r.value.reservation.id);
    }
    const later = new Date(t.clock.now().getTime() + 61_000);
    const outcomes = await Promise.all(ids.map(async (id) => {
      const [settled, released, expired] = await Promise.all([
        t.deps.metering.settle({ tenantId }, id, { credits: 4 }).catch(() => ({ ok: false as const })),
        t.deps.metering.release({ tenantId }, id),
        tx(tenantId, (x) => t.deps.reservations.expire(x, tenantId, id, later)),
      ]);
      return [settled.ok && !('replayed' in settled && settled.replayed), released.ok && !released.value.replayed, expired].filter(Boolean).length;
    }));
    expect(outcomes).toEqual(ids.map(() => 1));
    const [row] = await t.db.asOwner<{ resolutions: string; balance: string; reserved: string; sum_amount: string }>(`
      SELECT (SELECT count(*) FROM usage_records WHERE tenant_id = $1) AS resolutions,
             a.balance, a.reserved, (SELECT sum(amount) FROM credit_ledger WHERE tenant_id = $1) AS sum_amount
      FROM credit_accounts a WHERE a.tenant_id = $1`, [tenantId]);
    expect(Number(row!.resolutions)).toBe(ids.length);
    expect(Number(row!.reserved)).toBe(0);
    expect(Number(row!.balance)).toBe(Number(row!.sum_amount));
    expect(await reservationViolations((text, params) => t.db.asOwner(text, params), [tenantId])).toEqual([]);
  });
});
