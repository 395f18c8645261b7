import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTenant } from '../../db/scope.js';
import { auditActions, decisionCode, setSubscription, signIn, subscriptionRow } from '../../../test/billing.js';
import { createTeam, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import type { LifecycleEvent } from './lifecycle.js';
import type { SubscriptionStatus } from './tables.js';

let t: TestApp;
let op: SignedUp;
beforeAll(async () => {
  t = await startTestApp();
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

const STATUSES: SubscriptionStatus[] = ['trialing', 'active', 'past_due', 'pending_payment', 'canceled', 'suspended'];

/**
 * The policy, written out independently of lifecycle.ts: from which statuses each event
 * may move a subscription, and where it takes it in this test. What owes money (past_due,
 * suspended) is never turned into a trial; only a payment, a transfer asked for or a
 * cancellation leaves it.
 */
const POLICY: Record<LifecycleEvent, { from: SubscriptionStatus[]; to: (from: SubscriptionStatus) => SubscriptionStatus }> = {
  trial_started: { from: ['trialing', 'active', 'canceled', 'pending_payment'], to: () => 'trialing' },
  trial_ended: { from: ['trialing'], to: () => 'suspended' },
  transfer_requested: { from: STATUSES, to: () => 'pending_payment' },
  renewal_requested: { from: ['active', 'trialing'], to: (from) => from },
  transfer_rejected: { from: ['pending_payment'], to: () => 'active' },
  payment_succeeded: { from: STATUSES, to: () => 'active' },
  payment_failed: { from: ['trialing', 'active', 'past_due'], to: () => 'past_due' },
  period_ended_unpaid: { from: ['active'], to: () => 'past_due' },
  grace_ended: { from: ['past_due'], to: () => 'suspended' },
  canceled: { from: ['trialing', 'active', 'past_due', 'pending_payment', 'suspended'], to: () => 'canceled' },
  cancel_scheduled: { from: ['trialing', 'active'], to: (from) => from },
  resumed: { from: ['trialing', 'active', 'canceled'], to: (from) => (from === 'canceled' ? 'active' : from) },
  canceled_at_period_end: { from: ['trialing', 'active', 'past_due'], to: () => 'canceled' },
  plan_changed: { from: STATUSES, to: (from) => from },
  provider_updated: { from: STATUSES, to: () => 'active' },
};

async function attempt(tenantId: string, event: LifecycleEvent, to: SubscriptionStatus): Promise<string> {
  try {
    await t.deps.changes.commit({ kind: 'tenant', id: tenantId }, () => inTenant(t.deps.database.db, tenantId, (tx) =>
      t.deps.lifecycle.apply(tx, tenantId, () => ({ event, to, actor: { type: 'system', id: null } }))));
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe('the state machine: every event from every status, through the one transition function', () => {
  for (const event of Object.keys(POLICY) as LifecycleEvent[]) {
    it(`${event}: allowed from ${POLICY[event].from.join(', ')}, refused (409 INVALID_TRANSITION, nothing written) from the rest`, async () => {
      const owner = await t.signup();
      for (const from of STATUSES) {
        await setSubscription(t, owner.tenantId, { status: from });
        const audited = (await auditActions(t, owner.tenantId, 'subscription.')).length;
        const to = POLICY[event].to(from);
        const outcome = await attempt(owner.tenantId, event, to);
        const row = await subscriptionRow(t, owner.tenantId);
        const after = await auditActions(t, owner.tenantId, 'subscription.');
        if (POLICY[event].from.includes(from)) {
          expect([from, outcome, row.status]).toEqual([from, 'ok', to]);
          expect(after.slice(audited)).toEqual([`subscription.${event}`]);
        } else {
          expect([from, outcome, row.status]).toEqual([from, 'INVALID_TRANSITION', from]);
          expect(after).toHaveLength(audited);
        }
      }
    });
  }

  it('an event cannot take a subscription where it does not lead (a grace that ends does not make it active)', async () => {
    const owner = await t.signup();
    await setSubscription(t, owner.tenantId, { status: 'past_due' });
    expect(await attempt(owner.tenantId, 'grace_ended', 'active')).toBe('INVALID_TRANSITION');
    expect(await attempt(owner.tenantId, 'plan_changed', 'active')).toBe('INVALID_TRANSITION');
    expect(await attempt(owner.tenantId, 'payment_failed', 'suspended')).toBe('INVALID_TRANSITION');
    expect((await subscriptionRow(t, owner.tenantId)).status).toBe('past_due');
  });
});

describe('owners cancel and resume', () => {
  const cancel = (o: SignedUp, payload?: Record<string, unknown>, token = o.accessToken) =>
    t.request({ method: 'POST', url: `/v1/tenants/${o.tenantId}/subscription/cancel`, token, ...(payload ? { payload } : {}) });
  const resume = (o: SignedUp, token = o.accessToken) => t.request({ method: 'POST', url: `/v1/tenants/${o.tenantId}/subscription/resume`, token });
  const subscription = (o: SignedUp) => t.request({ method: 'GET', url: `/v1/tenants/${o.tenantId}/subscription`, token: o.accessToken });

  it('at the period\'s end: still active until then, resumable; the sweeper cancels when it comes', async () => {
    const owner = await t.signup();
    const scheduled = await cancel(owner, { atPeriodEnd: true });
    expect(scheduled.statusCode, scheduled.body).toBe(200);
    expect(scheduled.json()).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    t.clock.advance(1);
    expect((await resume(owner)).json()).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    t.clock.advance(1);
    await cancel(owner, { atPeriodEnd: true });
    const end = new Date(scheduled.json().currentPeriodEnd).getTime();
    const saved = t.clock.now();
    try {
      t.clock.set(end - 1);
      await t.deps.metering.sweep();
      expect((await subscriptionRow(t, owner.tenantId)).status).toBe('active');
      t.clock.set(end);
      await t.deps.metering.sweep();
      const token = await signIn(t, owner);
      expect((await subscription({ ...owner, accessToken: token })).json()).toMatchObject({ status: 'canceled', cancelAtPeriodEnd: false, canceledAt: new Date(end).toISOString() });
      expect(await decisionCode(t, token)).toBe('PAYMENT_REQUIRED');
      // The period it ended is over: nothing to resume.
      expect((await resume(owner, token)).json().error.code).toBe('INVALID_TRANSITION');
    } finally {
      t.clock.set(saved);
    }
    expect(await auditActions(t, owner.tenantId, 'subscription.')).toEqual([
      'subscription.cancel_scheduled', 'subscription.resumed', 'subscription.cancel_scheduled', 'subscription.canceled_at_period_end',
    ]);
  });

  it('now: PAYMENT_REQUIRED at once; resumed while the period it ended runs, the decision follows', async () => {
    const owner = await t.signup();
    const canceled = await cancel(owner);
    expect(canceled.statusCode, canceled.body).toBe(200);
    expect(canceled.json()).toMatchObject({ status: 'canceled' });
    expect(await decisionCode(t, owner.accessToken)).toBe('PAYMENT_REQUIRED');
    // The billing routes serve an unpaid tenant; the others answer 402.
    expect((await subscription(owner)).statusCode).toBe(200);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage`, token: owner.accessToken })).json().error.code).toBe('PAYMENT_REQUIRED');
    expect((await cancel(owner)).json().error.code).toBe('INVALID_TRANSITION');
    expect((await resume(owner)).json()).toMatchObject({ status: 'active', canceledAt: null });
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
  });

  it('what owed money stays owed: a past_due or pending subscription canceled cannot be resumed into active', async () => {
    for (const status of ['past_due', 'pending_payment', 'suspended'] as const) {
      const owner = await t.signup();
      await setSubscription(t, owner.tenantId, { status, past_due_since: status === 'past_due' ? t.clock.now() : null });
      expect((await cancel(owner)).json()).toMatchObject({ status: 'canceled' });
      const refused = await resume(owner);
      expect([status, refused.statusCode, refused.json().error.code]).toEqual([status, 409, 'INVALID_TRANSITION']);
      expect((await subscriptionRow(t, owner.tenantId)).status).toBe('canceled');
    }
  });

  it('only the owner: an admin and a member get 403 and nothing changes', async () => {
    const owner = await t.signup();
    const admin = await t.signup();
    const member = await t.signup();
    const tenantId = await createTeam(t, owner, [[admin, 'admin'], [member, 'member']]);
    const team = { ...owner, tenantId };
    for (const user of [admin, member]) {
      expect((await cancel(team, undefined, user.accessToken)).statusCode).toBe(403);
      expect((await resume(team, user.accessToken)).statusCode).toBe(403);
    }
    // Reading it is any member's (the tenant's own view shows members the same subscription).
    for (const user of [admin, member]) {
      const read = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/subscription`, token: user.accessToken });
      expect(read.statusCode, read.body).toBe(200);
      const tenant = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}`, token: user.accessToken })).json();
      expect(read.json()).toEqual(tenant.subscription);
    }
    expect((await subscriptionRow(t, tenantId)).status).toBe('active');
  });

  it('a subscription Stripe or PayPal keeps is canceled there: 409 SUBSCRIPTION_MANAGED_BY_PROVIDER', async () => {
    const owner = await t.signup();
    await setSubscription(t, owner.tenantId, { payment_method: 'stripe', provider_subscription_id: 'sub_kept' });
    expect((await cancel(owner)).json().error.code).toBe('SUBSCRIPTION_MANAGED_BY_PROVIDER');
    expect((await resume(owner)).json().error.code).toBe('SUBSCRIPTION_MANAGED_BY_PROVIDER');
    expect((await subscriptionRow(t, owner.tenantId)).status).toBe('active');
    // Ended by the provider while its period still runs: not Tollgate's to resume (nobody would bill it, nothing would end it).
    await setSubscription(t, owner.tenantId, { status: 'canceled', canceled_from: 'active', canceled_at: t.clock.now().toISOString() });
    const revived = await resume(owner);
    expect([revived.statusCode, revived.json().error.code]).toEqual([409, 'SUBSCRIPTION_MANAGED_BY_PROVIDER']);
    expect((await subscriptionRow(t, owner.tenantId)).status).toBe('canceled');
  });
});

describe('operators set and reset trials', () => {
  const trial = (tenantId: string, payload: Record<string, unknown>) => t.request({ method: 'POST', url: `/v1/admin/tenants/${tenantId}/trial`, token: op.accessToken, payload });
  const reset = (tenantId: string) => t.request({ method: 'POST', url: `/v1/admin/tenants/${tenantId}/trial/reset`, token: op.accessToken });

  it('set for days on a plan: trialing with a fresh period and the plan\'s credits; extended, the period stays; reset: suspended until paid', async () => {
    const owner = await t.signup();
    t.clock.advance(1000);
    const set = await trial(owner.tenantId, { days: 14, plan: 'pro' });
    expect(set.statusCode, set.body).toBe(200);
    const endsAt = new Date(t.clock.now().getTime() + 14 * 86_400_000).toISOString();
    expect(set.json()).toMatchObject({ status: 'trialing', plan: 'pro', trialEndsAt: endsAt, currentPeriodStart: t.clock.now().toISOString() });
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json()).toMatchObject({ balance: 100 + 10_000, reserved: 10 });
    t.clock.advance(1000);
    const extended = await trial(owner.tenantId, { endsAt: new Date(Date.parse(endsAt) + 86_400_000).toISOString() });
    expect(extended.json()).toMatchObject({ status: 'trialing', plan: 'pro', currentPeriodStart: set.json().currentPeriodStart });
    t.clock.advance(1000);
    const ended = await reset(owner.tenantId);
    expect(ended.json()).toMatchObject({ status: 'suspended', trialEndsAt: t.clock.now().toISOString() });
    expect(await decisionCode(t, owner.accessToken)).toBe('PAYMENT_REQUIRED');
    expect(await auditActions(t, owner.tenantId, 'subscription.')).toEqual(['subscription.trial_started', 'subscription.trial_started', 'subscription.trial_ended']);
  });

  it('a trial of a plan without a price ends simply active', async () => {
    const owner = await t.signup();
    await trial(owner.tenantId, { days: 3 });
    expect((await reset(owner.tenantId)).json()).toMatchObject({ status: 'active', plan: 'free' });
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
  });

  it('refused: a trial over money owed (past_due, suspended), a reset without a trial, an end in the past, both or neither of endsAt and days', async () => {
    const owner = await t.signup();
    for (const status of ['past_due', 'suspended'] as const) {
      await setSubscription(t, owner.tenantId, { status });
      const refused = await trial(owner.tenantId, { days: 7 });
      expect([status, refused.statusCode, refused.json().error.code]).toEqual([status, 409, 'INVALID_TRANSITION']);
    }
    await setSubscription(t, owner.tenantId, { status: 'active' });
    expect((await reset(owner.tenantId)).json().error.code).toBe('INVALID_TRANSITION');
    expect((await trial(owner.tenantId, { endsAt: new Date(t.clock.now().getTime() - 1000).toISOString() })).json().error.code).toBe('INVALID_TRIAL_END');
    expect((await trial(owner.tenantId, { days: 3, endsAt: new Date(t.clock.now().getTime() + 86_400_000).toISOString() })).json().error.code).toBe('VALIDATION_FAILED');
    expect((await trial(owner.tenantId, {})).json().error.code).toBe('VALIDATION_FAILED');
    expect((await trial(owner.tenantId, { days: 3, plan: 'platinum' })).json().error.code).toBe('PLAN_NOT_FOUND');
    expect(await auditActions(t, owner.tenantId, 'subscription.')).toEqual([]);
  });
});
