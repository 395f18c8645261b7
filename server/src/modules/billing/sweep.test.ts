import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditActions, decisionCode, setSubscription, subscriptionRow } from '../../../test/billing.js';
import { onPostgres, startSecondInstance, startTestApp, type SecondInstance, type SignedUp, type TestApp } from '../../../test/harness.js';

/**
 * The time-driven transitions, made by the sweepers of two instances over one database
 * (two pools on PostgreSQL, running at once): each transition is made exactly once.
 */
let one: TestApp;
let two: SecondInstance;
const GRACE_SECONDS = 3 * 86_400;
beforeAll(async () => {
  const patch = (file: { billing: { pastDueGraceSeconds: number } }) => { file.billing.pastDueGraceSeconds = GRACE_SECONDS; };
  one = await startTestApp({ patch, poolSize: 10 });
  two = await startSecondInstance(one, patch);
});
afterAll(async () => {
  await two.close();
  await one.close();
});

async function tenants(n: number): Promise<SignedUp[]> {
  const out: SignedUp[] = [];
  for (let i = 0; i < n; i++) out.push(await one.signup());
  return out;
}

/** Both instances sweep at `at`, at the same time; the transitions each made. */
async function sweepBoth(at: Date): Promise<number[]> {
  const swept = await Promise.all([one.deps.metering.sweep(at), two.deps.metering.sweep(at)]);
  return swept.map((s) => s.transitions);
}

describe(`time-driven transitions, exactly once under two sweeping instances${onPostgres ? ' (two pools)' : ''}`, () => {
  it('trials that ran out: suspended (a priced plan) or active (a free one), one transition and one audit entry each', async () => {
    const now = one.clock.now().getTime();
    const ends = new Date(now + 3_600_000);
    const priced = await tenants(6);
    const free = await tenants(2);
    for (const o of [...priced, ...free]) {
      await setSubscription(one, o.tenantId, { status: 'trialing', trial_ends_at: ends, plan: priced.includes(o) ? 'pro' : 'free' });
    }
    expect(await sweepBoth(new Date(ends.getTime() - 1))).toEqual([0, 0]);
    const made = await sweepBoth(ends);
    expect(made[0]! + made[1]!).toBe(8);
    for (const o of priced) {
      expect((await subscriptionRow(one, o.tenantId)).status).toBe('suspended');
      expect(await auditActions(one, o.tenantId, 'subscription.')).toEqual(['subscription.trial_ended']);
    }
    for (const o of free) expect((await subscriptionRow(one, o.tenantId)).status).toBe('active');
    expect(await sweepBoth(new Date(ends.getTime() + 60_000))).toEqual([0, 0]);
  });

  it('a trial that ran out is refused at once (the rule), and stays refused after the sweep, in both instances', async () => {
    const [o] = await tenants(1);
    await setSubscription(one, o!.tenantId, { status: 'trialing', trial_ends_at: new Date(one.clock.now().getTime() - 1), plan: 'pro' });
    expect(await decisionCode(one, o!.accessToken)).toBe('PAYMENT_REQUIRED');
    await sweepBoth(one.clock.now());
    expect(await decisionCode(two, o!.accessToken)).toBe('PAYMENT_REQUIRED');
    expect((await subscriptionRow(one, o!.tenantId)).status).toBe('suspended');
  });

  it('a bank-transfer period that ended unpaid: past_due from its end, working through the grace, then suspended', async () => {
    const now = one.clock.now();
    const end = new Date(now.getTime() - 1000);
    const billed = await tenants(5);
    for (const o of billed) {
      await setSubscription(one, o.tenantId, { status: 'active', plan: 'pro', payment_method: 'bank_transfer', current_period_start: new Date(end.getTime() - 30 * 86_400_000), current_period_end: end });
    }
    const made = await sweepBoth(now);
    expect(made[0]! + made[1]!).toBe(5);
    for (const o of billed) {
      const row = await subscriptionRow(one, o.tenantId);
      expect([row.status, new Date(row.past_due_since as string).toISOString()]).toEqual(['past_due', end.toISOString()]);
      expect(await auditActions(one, o.tenantId, 'subscription.')).toEqual(['subscription.period_ended_unpaid']);
    }
    // Within the grace the tenant keeps working; an active subscription nobody bills is left alone.
    expect(await decisionCode(two, billed[0]!.accessToken)).toBe('OK');
    const graceOver = new Date(end.getTime() + GRACE_SECONDS * 1000);
    expect(await sweepBoth(new Date(graceOver.getTime() - 1))).toEqual([0, 0]);
    one.clock.set(graceOver);
    const suspended = await sweepBoth(graceOver);
    expect(suspended[0]! + suspended[1]!).toBe(5);
    for (const o of billed) {
      expect((await subscriptionRow(one, o.tenantId)).status).toBe('suspended');
      expect(await auditActions(one, o.tenantId, 'subscription.')).toEqual(['subscription.period_ended_unpaid', 'subscription.grace_ended']);
    }
  });

  it('cancellation at the period\'s end, once', async () => {
    const now = one.clock.now();
    const set = await tenants(4);
    for (const o of set) {
      await setSubscription(one, o.tenantId, { cancel_at_period_end: true, current_period_end: new Date(now.getTime() - 1) });
    }
    const made = await sweepBoth(now);
    expect(made[0]! + made[1]!).toBe(4);
    for (const o of set) {
      expect((await subscriptionRow(one, o.tenantId)).status).toBe('canceled');
      expect(await auditActions(one, o.tenantId, 'subscription.')).toEqual(['subscription.canceled_at_period_end']);
    }
  });
});
