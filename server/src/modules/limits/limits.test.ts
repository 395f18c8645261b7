import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { addMonthUtc } from '../billing/index.js';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

/** A team tenant with an owner and a plain member, both signed in. */
async function team(): Promise<{ owner: SignedUp; member: SignedUp; tenantId: string }> {
  const owner = await t.signup();
  const member = await t.signup();
  const tenantId = (await t.request({ method: 'POST', url: '/v1/tenants', token: owner.accessToken, payload: { name: 'Team' } })).json().id;
  const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: owner.accessToken, payload: { email: member.email, role: 'member' } })).json();
  await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: member.accessToken });
  return { owner, member, tenantId };
}

const as = (who: SignedUp, tenantId: string) => t.deps.tenancy.access({ type: 'user', userId: who.userId, credential: 'access_token' }, tenantId, 'member');

describe('owner bypass of the runs meter', () => {
  it('lets the owner pass a full meter with bypass set and logged; the member is denied', async () => {
    const { owner, member, tenantId } = await team();
    const memberAccess = await as(member, tenantId);
    const ownerAccess = await as(owner, tenantId);
    const early = await t.deps.metering.consume(ownerAccess, 'runs');
    expect(early).toMatchObject({ ok: true, value: { bypass: null } });
    for (let i = 0; i < 9; i++) expect((await t.deps.metering.consume(memberAccess, 'runs')).ok).toBe(true);

    const denied = await t.deps.metering.consume(memberAccess, 'runs');
    expect(denied).toMatchObject({ ok: false, error: { code: 'LIMIT_EXCEEDED', usage: { meter: 'runs', used: 10, limit: 10, remaining: 0 } } });

    const bypassed = await t.deps.metering.consume(ownerAccess, 'runs', 1, { requestId: 'req-bypass' });
    expect(bypassed).toMatchObject({ ok: true, value: { bypass: { reason: 'owner', meter: 'runs' }, usage: { used: 11, limit: 10, remaining: 0 } } });
    expect((await t.deps.metering.consume(memberAccess, 'runs')).ok).toBe(false);

    const log = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/usage/events`, token: member.accessToken })).json();
    expect(log.events).toHaveLength(11);
    const bypasses = log.events.filter((e: { bypass: boolean }) => e.bypass);
    expect(bypasses).toEqual([expect.objectContaining({ meter: 'runs', role: 'owner', actor: { type: 'user', id: owner.userId }, usedAfter: 11, limit: 10 })]);
    const audit = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/audit`, token: owner.accessToken })).json();
    expect(audit.entries.find((e: { action: string }) => e.action === 'limit.bypass')).toMatchObject({ requestId: 'req-bypass', actor: { id: owner.userId } });
  });
});

describe('limits', () => {
  it('a limit lowered mid-period keeps what was used and denies at once; raising it admits again', async () => {
    const op = await t.operator();
    const { member, tenantId } = await team();
    const access = await as(member, tenantId);
    for (let i = 0; i < 5; i++) await t.deps.metering.consume(access, 'runs');
    const patched = await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload: { limits: { runs: 3 } } });
    expect(patched.statusCode).toBe(200);
    expect(await t.deps.metering.consume(access, 'runs')).toMatchObject({ ok: false, error: { usage: { used: 5, limit: 3, remaining: 0 } } });
    const usage = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/usage`, token: member.accessToken })).json();
    expect(usage.usage).toEqual([expect.objectContaining({ meter: 'runs', used: 5, limit: 3, remaining: 0 })]);
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload: { limits: { runs: 6 } } });
    expect(await t.deps.metering.consume(access, 'runs')).toMatchObject({ ok: true, value: { usage: { used: 6, limit: 6 } } });
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload: { limits: { runs: null } } });
    expect(await t.deps.metering.consume(access, 'runs')).toMatchObject({ ok: true, value: { usage: { used: 7, limit: 10 } } });
  });

  it('a request larger than the whole allowance is denied and writes nothing, even on a fresh counter', async () => {
    const { tenantId } = await team();
    expect((await t.deps.metering.consume({ tenantId }, 'runs', 11)).ok).toBe(false);
    const rows = await t.db.asOwner('SELECT * FROM usage_counters WHERE tenant_id = $1', [tenantId]);
    expect(rows).toHaveLength(0);
  });

  it('switches period exactly at the subscription boundary: the last millisecond counts in the old one', async () => {
    const { tenantId, member } = await team();
    const access = await as(member, tenantId);
    const sub = (await t.deps.tenancy.getTenant(tenantId)).subscription!;
    const end = new Date(sub.currentPeriodEnd);
    const saved = t.clock.now();
    try {
      for (let i = 0; i < 9; i++) await t.deps.metering.consume(access, 'runs');
      t.clock.set(end.getTime() - 1);
      expect(await t.deps.metering.consume(access, 'runs')).toMatchObject({ ok: true, value: { usage: { used: 10, periodStart: sub.currentPeriodStart, periodEnd: sub.currentPeriodEnd } } });
      expect((await t.deps.metering.consume(access, 'runs')).ok).toBe(false);
      t.clock.set(end);
      const next = await t.deps.metering.consume(access, 'runs');
      expect(next).toMatchObject({ ok: true, value: { usage: { used: 1, periodStart: end.toISOString(), periodEnd: addMonthUtc(end).toISOString() } } });
      const rolled = (await t.deps.tenancy.getTenant(tenantId)).subscription!;
      expect(rolled.currentPeriodStart).toBe(end.toISOString());
      const counters = await t.db.asOwner<{ used: string }>('SELECT used FROM usage_counters WHERE tenant_id = $1 ORDER BY period_start', [tenantId]);
      expect(counters.map((c) => Number(c.used))).toEqual([10, 1]);
    } finally {
      t.clock.set(saved);
    }
  });

  it('an idle tenant\'s period rolls forward contiguously, one month at a time', async () => {
    const { tenantId } = await team();
    const sub = (await t.deps.tenancy.getTenant(tenantId)).subscription!;
    const saved = t.clock.now();
    try {
      const third = addMonthUtc(addMonthUtc(new Date(sub.currentPeriodEnd)));
      t.clock.set(third.getTime() + 1000);
      const usage = await t.deps.metering.usage(tenantId);
      expect(usage.periodStart).toBe(third.toISOString());
      expect(usage.periodEnd).toBe(addMonthUtc(third).toISOString());
    } finally {
      t.clock.set(saved);
    }
  });
});

describe('concurrent runs', () => {
  it('hands out at most concurrentRuns leases; release and lease expiry free a slot', async () => {
    const { tenantId } = await team();
    const caller = { tenantId };
    expect(await t.deps.metering.acquireRun(caller, 'run-a', 60)).toMatchObject({ ok: true, value: { active: 1, limit: 2 } });
    expect(await t.deps.metering.acquireRun(caller, 'run-b', 60)).toMatchObject({ ok: true, value: { active: 2 } });
    expect(await t.deps.metering.acquireRun(caller, 'run-c', 60)).toMatchObject({ ok: false, error: { code: 'LIMIT_EXCEEDED', active: 2, limit: 2 } });
    expect(await t.deps.metering.acquireRun(caller, 'run-a', 60)).toMatchObject({ ok: true, value: { active: 2 } });
    expect(await t.deps.metering.releaseRun(caller, 'run-a')).toBe(true);
    expect(await t.deps.metering.releaseRun(caller, 'run-a')).toBe(false);
    expect((await t.deps.metering.acquireRun(caller, 'run-c', 60)).ok).toBe(true);
    expect((await t.deps.metering.usage(tenantId)).concurrentRuns).toEqual({ active: 2, limit: 2 });
    t.clock.advance(61_000);
    expect((await t.deps.metering.usage(tenantId)).concurrentRuns).toEqual({ active: 0, limit: 2 });
    expect(await t.deps.metering.acquireRun(caller, 'run-d', 60)).toMatchObject({ ok: true, value: { active: 1 } });
  });

  it('a settled or released reservation frees the run slot it held', async () => {
    const { tenantId } = await team();
    const caller = { tenantId };
    const r1 = await t.deps.metering.reserve(caller, { operation: 'clustering', idempotencyKey: 'slot-1' });
    const r2 = await t.deps.metering.reserve(caller, { operation: 'clustering', idempotencyKey: 'slot-2' });
    if (!r1.ok || !r2.ok) throw new Error('reserve failed');
    await t.deps.metering.acquireRun(caller, r1.value.reservation.id, 60);
    await t.deps.metering.acquireRun(caller, r2.value.reservation.id, 60);
    expect((await t.deps.metering.acquireRun(caller, 'other', 60)).ok).toBe(false);
    await t.deps.metering.settle(caller, r1.value.reservation.id);
    await t.deps.metering.release(caller, r2.value.reservation.id);
    expect((await t.deps.metering.usage(tenantId)).concurrentRuns.active).toBe(0);
  });
});
