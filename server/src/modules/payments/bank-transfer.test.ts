import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditActions, decisionCode, setSubscription, signIn, subscriptionRow } from '../../../test/billing.js';
import { createTeam, onPostgres, snapshot, startSecondInstance, startTestApp, type SecondInstance, type SignedUp, type TestApp } from '../../../test/harness.js';
import { startServerProcess, type ServerProcess } from '../../../test/server-process.js';
import { addMonthsUtc } from '../billing/index.js';

/**
 * Bank transfers end to end. Instance one decides with group commit (the batch
 * statement), instance two, over the same database, one transaction per decision: the
 * decision before and after each payment is checked on both paths, and a payment made
 * through one instance lifts PAYMENT_REQUIRED on the other's very next request.
 */
let one: TestApp;
let two: SecondInstance;
let op: SignedUp;
beforeAll(async () => {
  one = await startTestApp({ poolSize: 10 });
  two = await startSecondInstance(one, (file) => { file.metering.groupCommit = false; });
  op = await one.operator();
});
afterAll(async () => {
  await two.close();
  await one.close();
});

const ask = (o: SignedUp, plan = 'pro', token = o.accessToken) =>
  one.request({ method: 'POST', url: `/v1/tenants/${o.tenantId}/subscription/bank-transfer`, token, payload: { plan } });
// Tests move the clock past a token's life: the operator signs in again when it has.
let opToken = { token: '', at: -Infinity };
async function operatorToken(): Promise<string> {
  const now = one.clock.now().getTime();
  if (now - opToken.at > 60_000 || now < opToken.at) opToken = { token: await signIn(one, op), at: now };
  return opToken.token;
}
const confirm = async (tenantId: string, body: Record<string, unknown>, via: { request: TestApp['request'] } = one) =>
  via.request({ method: 'POST', url: `/v1/admin/tenants/${tenantId}/payments/bank-transfer`, token: await operatorToken(), payload: body });
const reject = async (tenantId: string, paymentId: string, reason = 'no transfer arrived') =>
  one.request({ method: 'POST', url: `/v1/admin/tenants/${tenantId}/payments/${paymentId}/reject`, token: await operatorToken(), payload: { reason } });
const transfer = (id: string, extra: Record<string, unknown> = {}) => ({ externalPaymentId: id, amount: 4900, currency: 'EUR', payerName: 'ACME GmbH', proofUrl: 'https://bank.example/statements/1', ...extra });

async function decisions(o: SignedUp): Promise<string[]> {
  return [await decisionCode(one, o.accessToken), await decisionCode(two, o.accessToken)];
}

async function ledger(tenantId: string): Promise<{ kind: string; amount: string; payment_id: string | null; idempotency_key: string }[]> {
  return one.db.asOwner('SELECT kind, amount::text, payment_id, idempotency_key FROM credit_ledger WHERE tenant_id = $1 AND kind = $2 ORDER BY created_at, id', [tenantId, 'grant']);
}

/**
 * Moves the clock to `at` with both instances' signing keys caught up: a move past the
 * key's age rotates it, and one instance's ticker may do so while the other still signs
 * with the key retired (its grace long over at the new time).
 */
async function moveClock(at: Date): Promise<void> {
  one.clock.set(at);
  await one.deps.keys.refresh();
  await two.deps.keys.refresh();
}

describe.skipIf(!onPostgres)('with a second real server process (tsx src/main.ts serve)', () => {
  let server: ServerProcess;
  beforeAll(async () => { server = await startServerProcess(one.db.url!, { TOLLGATE_DB_POOL_SIZE: '3' }); });
  afterAll(async () => { await server.close(); });

  it('a confirmed transfer lifts PAYMENT_REQUIRED on the other process\'s very next decision', async () => {
    const owner = await one.signup();
    await ask(owner);
    const decide = async () => {
      const res = await fetch(`${server.url}/v1/authorize`, { method: 'POST', headers: { authorization: `Bearer ${owner.accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ operation: 'clustering' }) });
      return ((await res.json()) as { code: string }).code;
    };
    expect([await decide(), await decide()]).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    expect((await confirm(owner.tenantId, transfer('BANK-PROCESS-1'))).statusCode).toBe(200);
    expect(await decide()).toBe('OK');
  });
});

describe('asking for a plan by transfer', () => {
  it('waits in pending_payment for that plan with a reference to quote; the decision says PAYMENT_REQUIRED on both paths', async () => {
    const owner = await one.signup();
    expect(await decisions(owner)).toEqual(['OK', 'OK']);
    const asked = await ask(owner);
    expect(asked.statusCode, asked.body).toBe(201);
    expect(asked.json()).toEqual({ paymentId: expect.stringMatching(/^pay_/), reference: expect.stringMatching(/^TG-[0-9A-Z]{4}-[0-9A-Z]{4}$/), amount: 4900, currency: 'EUR', plan: 'pro' });
    const sub = await one.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/subscription`, token: owner.accessToken });
    expect(sub.json()).toMatchObject({ status: 'pending_payment', plan: 'pro' });
    expect(await decisions(owner)).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    const payments = await one.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken });
    expect(payments.json().payments).toEqual([expect.objectContaining({ id: asked.json().paymentId, method: 'bank_transfer', status: 'pending', amount: 4900, currency: 'EUR', plan: 'pro', externalPaymentId: null })]);
  });

  it('a plan without a price cannot be paid for (409 PLAN_NOT_BILLABLE); an unknown one is 400; a member may not ask', async () => {
    const owner = await one.signup();
    const member = await one.signup();
    const tenantId = await createTeam(one, owner, [[member, 'member']]);
    const team = { ...owner, tenantId };
    expect((await ask(team, 'free')).json().error.code).toBe('PLAN_NOT_BILLABLE');
    expect((await ask(team, 'platinum')).json().error.code).toBe('PLAN_NOT_FOUND');
    expect((await ask(team, 'pro', member.accessToken)).statusCode).toBe(403);
    expect((await subscriptionRow(one, tenantId)).status).toBe('active');
  });
});

describe('an operator confirms a transfer', () => {
  it('one transaction: payment recorded, active on a new period, the plan\'s credits granted against the payment, audited; lifted on both instances\' next request', async () => {
    const owner = await one.signup();
    const asked = (await ask(owner)).json();
    expect(await decisions(owner)).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    one.clock.advance(1000);
    const confirmed = await confirm(owner.tenantId, transfer('BANK-2027-0001'));
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const now = one.clock.now();
    const body = confirmed.json();
    expect(body).toMatchObject({
      replayed: false,
      payment: { id: asked.paymentId, method: 'bank_transfer', status: 'succeeded', externalPaymentId: 'BANK-2027-0001', amount: 4900, currency: 'EUR', plan: 'pro', payerName: 'ACME GmbH', reference: asked.reference, periodStart: now.toISOString() },
      subscription: { status: 'active', plan: 'pro', paymentMethod: 'bank_transfer', externalPaymentId: 'BANK-2027-0001', currentPeriodStart: now.toISOString(), pastDueSince: null },
    });
    expect(body.subscription.currentPeriodEnd).toBe(body.payment.periodEnd);
    // Instance two had PAYMENT_REQUIRED cached: its very next decision is OK.
    expect(await decisionCode(two, owner.accessToken)).toBe('OK');
    expect(await decisionCode(one, owner.accessToken)).toBe('OK');
    expect(await ledger(owner.tenantId)).toEqual([
      expect.objectContaining({ amount: '100', payment_id: null }),
      { kind: 'grant', amount: '10000', payment_id: asked.paymentId, idempotency_key: `period:${now.toISOString()}` },
    ]);
    const entries = (await one.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits/ledger`, token: owner.accessToken })).json().entries;
    expect(entries.find((e: { paymentId: string | null }) => e.paymentId === asked.paymentId)).toMatchObject({ kind: 'grant', amount: 10_000 });
    expect((await auditActions(one, owner.tenantId, 'payment.')).sort()).toEqual(['payment.succeeded']);
    expect(await auditActions(one, owner.tenantId, 'subscription.')).toEqual(['subscription.transfer_requested', 'subscription.payment_succeeded']);
  });

  it('a process that missed the notification (its change feed stopped) still lifts PAYMENT_REQUIRED on its next request', async () => {
    const deaf = await startSecondInstance(one);
    try {
      await deaf.deps.changes.stop();
      const owner = await one.signup();
      await ask(owner);
      expect(await decisionCode(deaf, owner.accessToken)).toBe('PAYMENT_REQUIRED');
      expect((await confirm(owner.tenantId, transfer('BANK-DEAF-1'))).statusCode).toBe(200);
      expect(await decisionCode(deaf, owner.accessToken)).toBe('OK');
      expect((await deaf.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage`, token: owner.accessToken })).statusCode).toBe(200);
    } finally {
      await deaf.close();
    }
  });

  it('the same confirmation again is a replay (the same answer, replayed: true, nothing written); another body for the id is 409 IDEMPOTENCY_CONFLICT', async () => {
    const owner = await one.signup();
    await ask(owner);
    const other = await one.signup();
    const first = await confirm(owner.tenantId, transfer('BANK-REPLAY-1'));
    expect(first.statusCode).toBe(200);
    const before = await snapshot(one.db);
    const again = await confirm(owner.tenantId, transfer('BANK-REPLAY-1'));
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ...first.json(), replayed: true });
    const conflicting = await confirm(owner.tenantId, transfer('BANK-REPLAY-1', { amount: 9800 }));
    expect([conflicting.statusCode, conflicting.json().error.code]).toEqual([409, 'IDEMPOTENCY_CONFLICT']);
    // The same bank transaction cannot pay for another tenant either.
    expect((await confirm(other.tenantId, transfer('BANK-REPLAY-1', { plan: 'pro' }))).json().error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await snapshot(one.db)).toEqual(before);
  });

  it(`two operators confirming at once produce one payment and one grant${onPostgres ? ' (two instances, two pools)' : ''}`, async () => {
    const owner = await one.signup();
    await ask(owner);
    const body = transfer('BANK-RACE-1');
    const answers = await Promise.all([confirm(owner.tenantId, body, one), confirm(owner.tenantId, body, two), confirm(owner.tenantId, body, one), confirm(owner.tenantId, body, two)]);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
    expect(answers.map((a) => a.json().replayed).sort()).toEqual([false, true, true, true]);
    expect(new Set(answers.map((a) => a.json().payment.id)).size).toBe(1);
    const counted = await one.db.asOwner<{ n: number }>("SELECT count(*)::int AS n FROM payments WHERE tenant_id = $1 AND status = 'succeeded'", [owner.tenantId]);
    expect(counted).toEqual([{ n: 1 }]);
    expect((await ledger(owner.tenantId)).filter((g) => g.payment_id !== null)).toHaveLength(1);
  });

  it('refuses what does not pay for the plan: a lower amount, another currency, a plan without a price; writes nothing', async () => {
    const owner = await one.signup();
    await ask(owner);
    const before = await snapshot(one.db);
    for (const extra of [{ amount: 4899 }, { currency: 'USD' }, { amount: 9799, periods: 2 }]) {
      const refused = await confirm(owner.tenantId, transfer('BANK-SHORT-1', extra));
      expect([JSON.stringify(extra), refused.statusCode, refused.json().error.code]).toEqual([JSON.stringify(extra), 409, 'PAYMENT_AMOUNT_MISMATCH']);
    }
    expect((await confirm(owner.tenantId, transfer('BANK-SHORT-1', { plan: 'free' }))).json().error.code).toBe('PLAN_NOT_BILLABLE');
    expect(await snapshot(one.db)).toEqual(before);
    // Several periods paid at once: the payment covers them all, the subscription is on the first.
    const paid = await confirm(owner.tenantId, transfer('BANK-THREE-1', { amount: 14_700, periods: 3 }));
    const start = new Date(paid.json().subscription.currentPeriodStart);
    expect(paid.json().payment).toMatchObject({ periods: 3, periodStart: start.toISOString(), periodEnd: addMonthsUtc(start, 3).toISOString() });
    expect(paid.json().subscription.currentPeriodEnd).toBe(addMonthsUtc(start, 1).toISOString());
  });

  it('a transfer that arrives without being asked for (a renewal) is recorded and activates the subscription too', async () => {
    const owner = await one.signup();
    await setSubscription(one, owner.tenantId, { status: 'past_due', plan: 'pro', payment_method: 'bank_transfer', past_due_since: new Date(one.clock.now().getTime() - 30 * 86_400_000) });
    expect(await decisions(owner)).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    const paid = await confirm(owner.tenantId, transfer('BANK-RENEW-1'));
    expect(paid.json()).toMatchObject({ replayed: false, payment: { reference: null, status: 'succeeded' }, subscription: { status: 'active', pastDueSince: null } });
    expect(await decisions(owner)).toEqual(['OK', 'OK']);
  });

  it('paid ahead: the period running stays; when it ends, the sweeper opens the paid one with its credits instead of past_due', async () => {
    const owner = await one.signup();
    await ask(owner);
    const first = (await confirm(owner.tenantId, transfer('BANK-AHEAD-1'))).json();
    one.clock.advance(86_400_000);
    const ahead = (await confirm(owner.tenantId, transfer('BANK-AHEAD-2'))).json();
    expect(ahead.payment).toMatchObject({ status: 'succeeded', periodStart: first.subscription.currentPeriodEnd });
    expect(ahead.subscription).toMatchObject({ currentPeriodStart: first.subscription.currentPeriodStart, currentPeriodEnd: first.subscription.currentPeriodEnd });
    const end = new Date(first.subscription.currentPeriodEnd);
    one.clock.set(end);
    const swept = await one.deps.metering.sweep();
    expect(swept.transitions).toBeGreaterThanOrEqual(1);
    const row = await subscriptionRow(one, owner.tenantId);
    expect([row.status, new Date(row.current_period_start as string).toISOString(), new Date(row.current_period_end as string).toISOString()])
      .toEqual(['active', ahead.payment.periodStart, ahead.payment.periodEnd]);
    expect((await ledger(owner.tenantId)).map((g) => g.payment_id ?? '-').sort()).toEqual(['-', first.payment.id, ahead.payment.id].sort());
  });
});

describe('several periods paid at once', () => {
  const iso = (at: unknown) => new Date(at as string).toISOString();
  const usage = async (o: SignedUp) => (await one.request({ method: 'GET', url: `/v1/tenants/${o.tenantId}/usage`, token: await signIn(one, o) })).json();

  it(`periods: 3 is three monthly periods, each its own usage period and plan grant (opened once by two sweepers${onPostgres ? ', two pools' : ''}); then past_due`, async () => {
    const owner = await one.signup();
    // (A second on: a period beginning the instant the signup's did would key its grant by the payment too.)
    one.clock.advance(1000);
    const paid = (await confirm(owner.tenantId, transfer('BANK-3M-1', { amount: 3 * 4900, plan: 'pro', periods: 3 }))).json();
    const start = new Date(paid.payment.periodStart);
    const month = (k: number) => addMonthsUtc(start, k).toISOString();
    expect(paid.payment).toMatchObject({ periods: 3, periodEnd: month(3) });
    expect(paid.subscription).toMatchObject({ status: 'active', currentPeriodStart: month(0), currentPeriodEnd: month(1) });
    for (const k of [1, 2]) {
      expect(await decisionCode(one, await signIn(one, owner))).toBe('OK');
      expect((await usage(owner)).usage.find((u: { meter: string }) => u.meter === 'runs')).toMatchObject({ used: 1, periodStart: month(k - 1) });
      await moveClock(new Date(month(k)));
      await Promise.all([one.deps.metering.sweep(), two.deps.metering.sweep()]);
      const row = await subscriptionRow(one, owner.tenantId);
      expect([row.status, iso(row.current_period_start), iso(row.current_period_end)]).toEqual(['active', month(k), month(k + 1)]);
      expect(await usage(owner)).toMatchObject({ periodStart: month(k), periodEnd: month(k + 1) });
      expect((await usage(owner)).usage.find((u: { meter: string }) => u.meter === 'runs')).toMatchObject({ used: 0 });
    }
    const grants = (await ledger(owner.tenantId)).filter((g) => g.payment_id === paid.payment.id);
    expect(grants.map((g) => [g.amount, g.idempotency_key])).toEqual([0, 1, 2].map((k) => ['10000', `period:${month(k)}`]));
    // Nothing paid after the third: it ends unpaid.
    await moveClock(new Date(month(3)));
    await one.deps.metering.sweep();
    const row = await subscriptionRow(one, owner.tenantId);
    expect([row.status, iso(row.past_due_since)]).toEqual(['past_due', month(3)]);
  });

  it('set to cancel at its period\'s end, the months paid for run out first: one sweep after a while opens each with its grant, then cancels', async () => {
    const owner = await one.signup();
    one.clock.advance(1000);
    const confirmed = await confirm(owner.tenantId, transfer('BANK-3M-2', { amount: 3 * 4900, plan: 'pro', periods: 3 }));
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const paid = confirmed.json();
    const start = new Date(paid.payment.periodStart);
    const month = (k: number) => addMonthsUtc(start, k).toISOString();
    const scheduled = await one.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/cancel`, token: owner.accessToken, payload: { atPeriodEnd: true } });
    expect(scheduled.json()).toMatchObject({ status: 'active', cancelAtPeriodEnd: true, currentPeriodEnd: month(1) });
    await moveClock(new Date(month(1)));
    await one.deps.metering.sweep();
    expect(await subscriptionRow(one, owner.tenantId)).toMatchObject({ status: 'active', cancel_at_period_end: true });
    await moveClock(new Date(month(3)));
    await one.deps.metering.sweep();
    const row = await subscriptionRow(one, owner.tenantId);
    expect([row.status, iso(row.canceled_at), iso(row.current_period_start)]).toEqual(['canceled', month(3), month(2)]);
    expect((await ledger(owner.tenantId)).filter((g) => g.payment_id === paid.payment.id).map((g) => g.idempotency_key)).toEqual([0, 1, 2].map((k) => `period:${month(k)}`));
  });
});

describe('asking for the next period while a paid one runs', () => {
  const DAY = 86_400_000;
  const fresh = async (o: SignedUp): Promise<SignedUp> => ({ ...o, accessToken: await signIn(one, o) });

  it('the tenant keeps its standing and plan until its period ends; the confirmed transfer opens the next period where the paid one ends', async () => {
    let owner = await one.signup();
    await ask(owner);
    // (A second on, so the audit entries sort as they were made.)
    one.clock.advance(1000);
    const first = (await confirm(owner.tenantId, transfer('BANK-NEXT-1'))).json();
    await moveClock(new Date(one.clock.now().getTime() + 10 * DAY));
    owner = await fresh(owner);
    // Twenty paid days left: next month's reference, for enterprise.
    const asked = await ask(owner, 'enterprise');
    expect(asked.statusCode, asked.body).toBe(201);
    expect(await decisions(owner)).toEqual(['OK', 'OK']);
    expect(await subscriptionRow(one, owner.tenantId)).toMatchObject({ status: 'active', plan: 'pro' });
    expect(await auditActions(one, owner.tenantId, 'subscription.')).toEqual(['subscription.transfer_requested', 'subscription.payment_succeeded', 'subscription.renewal_requested']);
    const second = (await confirm(owner.tenantId, transfer('BANK-NEXT-2', { amount: 49_900, paymentId: asked.json().paymentId }))).json();
    expect(second.payment).toMatchObject({ id: asked.json().paymentId, status: 'succeeded', plan: 'enterprise', periodStart: first.subscription.currentPeriodEnd });
    expect(second.subscription).toMatchObject({ status: 'active', plan: 'pro', currentPeriodStart: first.subscription.currentPeriodStart, currentPeriodEnd: first.subscription.currentPeriodEnd });
    await moveClock(new Date(first.subscription.currentPeriodEnd));
    await one.deps.metering.sweep();
    const row = await subscriptionRow(one, owner.tenantId);
    expect([row.status, row.plan, new Date(row.current_period_start as string).toISOString()]).toEqual(['active', 'enterprise', first.subscription.currentPeriodEnd]);
    expect(await decisions(await fresh(owner))).toEqual(['OK', 'OK']);
  });

  it('rejected, the subscription is left as it is; one asked again after the period ended unpaid is rejected back to past_due, not to active', async () => {
    let owner = await one.signup();
    await ask(owner);
    const first = (await confirm(owner.tenantId, transfer('BANK-NEXT-3'))).json();
    const ahead = (await ask(owner)).json();
    expect((await reject(owner.tenantId, ahead.paymentId)).json().subscription).toMatchObject({ status: 'active', plan: 'pro' });
    await ask(owner);
    const end = new Date(first.subscription.currentPeriodEnd);
    await moveClock(end);
    await one.deps.metering.sweep();
    expect((await subscriptionRow(one, owner.tenantId)).status).toBe('past_due');
    owner = await fresh(owner);
    // The request awaited since before the period ended is replaced: a past_due tenant waits as today.
    const again = (await ask(owner)).json();
    expect((await subscriptionRow(one, owner.tenantId)).status).toBe('pending_payment');
    const rejected = (await reject(owner.tenantId, again.paymentId)).json();
    expect(rejected.subscription).toMatchObject({ status: 'past_due', plan: 'pro', pastDueSince: end.toISOString() });
  });
});

describe('an operator\'s trial over a paid period', () => {
  const DAY = 86_400_000;
  const iso = (at: unknown) => new Date(at as string).toISOString();
  const fresh = async (o: SignedUp): Promise<SignedUp> => ({ ...o, accessToken: await signIn(one, o) });
  const trial = async (tenantId: string, payload: Record<string, unknown>) =>
    one.request({ method: 'POST', url: `/v1/admin/tenants/${tenantId}/trial`, token: await operatorToken(), payload });
  const periodOf = (row: Record<string, unknown>) => [row.status, row.plan, row.payment_method, iso(row.current_period_start), iso(row.current_period_end)];

  it(`ends back into the paid period, on its plan, its credits not granted again (run out or reset early${onPostgres ? ', two pools' : ''}); the paid period then ends as any`, async () => {
    let owner = await one.signup();
    one.clock.advance(1000);
    const paid = (await confirm(owner.tenantId, transfer('BANK-TRIAL-1', { plan: 'pro' }))).json();
    const paidPeriod = ['active', 'pro', 'bank_transfer', paid.subscription.currentPeriodStart, paid.subscription.currentPeriodEnd];
    // (Each step a second on, so the audit entries sort as they were made.)
    one.clock.advance(1000);
    expect((await trial(owner.tenantId, { days: 7, plan: 'enterprise' })).json()).toMatchObject({ status: 'trialing', plan: 'enterprise' });
    await moveClock(new Date(one.clock.now().getTime() + 8 * DAY));
    await Promise.all([one.deps.metering.sweep(), two.deps.metering.sweep()]);
    expect(periodOf(await subscriptionRow(one, owner.tenantId))).toEqual(paidPeriod);
    owner = await fresh(owner);
    expect(await decisions(owner)).toEqual(['OK', 'OK']);
    // Reset before it runs out: the same.
    one.clock.advance(1000);
    expect((await trial(owner.tenantId, { days: 3 })).json()).toMatchObject({ status: 'trialing', plan: 'pro' });
    one.clock.advance(1000);
    const reset = await one.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/trial/reset`, token: await operatorToken() });
    expect(reset.json()).toMatchObject({ status: 'active', plan: 'pro', currentPeriodStart: paid.subscription.currentPeriodStart });
    expect((await ledger(owner.tenantId)).filter((g) => g.payment_id === paid.payment.id)).toHaveLength(1);
    expect((await auditActions(one, owner.tenantId, 'subscription.')).slice(-4)).toEqual(['subscription.trial_started', 'subscription.trial_ended', 'subscription.trial_started', 'subscription.trial_ended']);
    await moveClock(new Date(paid.subscription.currentPeriodEnd));
    await one.deps.metering.sweep();
    expect((await subscriptionRow(one, owner.tenantId)).status).toBe('past_due');
  });

  it('outlasting the paid period, with the next one asked for and paid during the trial (not locked out), it ends into that one', async () => {
    let owner = await one.signup();
    one.clock.advance(1000);
    const paid = (await confirm(owner.tenantId, transfer('BANK-TRIAL-2', { plan: 'pro' }))).json();
    const set = (await trial(owner.tenantId, { days: 45, plan: 'enterprise' })).json();
    const asked = await ask(owner);
    expect(asked.statusCode, asked.body).toBe(201);
    expect(await subscriptionRow(one, owner.tenantId)).toMatchObject({ status: 'trialing', plan: 'enterprise' });
    expect(await decisions(owner)).toEqual(['OK', 'OK']);
    const next = (await confirm(owner.tenantId, transfer('BANK-TRIAL-3', { paymentId: asked.json().paymentId }))).json();
    expect(next.payment).toMatchObject({ plan: 'pro', periodStart: paid.subscription.currentPeriodEnd });
    expect(next.subscription).toMatchObject({ status: 'trialing', plan: 'enterprise' });
    await moveClock(new Date(set.trialEndsAt));
    await one.deps.metering.sweep();
    expect(periodOf(await subscriptionRow(one, owner.tenantId))).toEqual(['active', 'pro', 'bank_transfer', next.payment.periodStart, next.payment.periodEnd]);
    expect((await ledger(owner.tenantId)).filter((g) => g.payment_id === next.payment.id).map((g) => g.idempotency_key)).toEqual([`period:${next.payment.periodStart}`]);
    owner = await fresh(owner);
    expect(await decisions(owner)).toEqual(['OK', 'OK']);
  });
});

describe('an operator rejects a transfer', () => {
  it('with a reason: the payment is rejected, the subscription goes back to what it was, and the decision with it', async () => {
    const owner = await one.signup();
    const asked = (await ask(owner)).json();
    expect(await decisions(owner)).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    const rejected = await reject(owner.tenantId, asked.paymentId, 'amount never arrived');
    expect(rejected.statusCode, rejected.body).toBe(200);
    expect(rejected.json()).toMatchObject({ replayed: false, payment: { status: 'rejected', reason: 'amount never arrived' }, subscription: { status: 'active', plan: 'free' } });
    expect(await decisions(owner)).toEqual(['OK', 'OK']);
    expect((await reject(owner.tenantId, asked.paymentId, 'amount never arrived')).json().replayed).toBe(true);
    expect((await reject(owner.tenantId, asked.paymentId, 'another reason')).json().error.code).toBe('PAYMENT_NOT_PENDING');
    expect(await auditActions(one, owner.tenantId, 'payment.')).toEqual(['payment.rejected']);
    // Confirming the rejected request by its id is refused; another tenant's payment id is the 404 of a missing one.
    expect((await confirm(owner.tenantId, transfer('BANK-LATE-1', { paymentId: asked.paymentId }))).json().error.code).toBe('PAYMENT_NOT_PENDING');
    const other = await one.signup();
    expect((await reject(other.tenantId, asked.paymentId)).json().error.code).toBe('PAYMENT_NOT_FOUND');
  });

  it('asked for while Stripe had the subscription incomplete, it is rejected back to pending_payment', async () => {
    const owner = await one.signup();
    await setSubscription(one, owner.tenantId, { payment_method: 'stripe', provider_subscription_id: 'sub_incomplete', status: 'pending_payment' });
    const asked = (await ask(owner)).json();
    const rejected = await reject(owner.tenantId, asked.paymentId);
    expect(rejected.statusCode, rejected.body).toBe(200);
    expect(rejected.json()).toMatchObject({ payment: { status: 'rejected' }, subscription: { status: 'pending_payment', plan: 'free' } });
  });

  it(`asking again while an operator confirms or rejects the request awaited never deadlocks${onPostgres ? ' (two pools)' : ''}`, async () => {
    const answers: number[] = [];
    for (let round = 0; round < 12; round++) {
      const owner = await one.signup();
      const awaited = (await ask(owner)).json();
      const decide = round % 2 === 0 ? confirm(owner.tenantId, transfer(`BANK-RACE-${round}`, { paymentId: awaited.paymentId })) : reject(owner.tenantId, awaited.paymentId);
      // The second ask goes through the other instance (its own pool on PostgreSQL).
      const again = two.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/bank-transfer`, token: owner.accessToken, payload: { plan: 'pro' } });
      answers.push(...(await Promise.all([decide, again])).map((r) => r.statusCode));
    }
    // One of each pair may lose (the request replaced, or no longer pending): a 409, never a deadlock's 503.
    expect(answers.filter((code) => code >= 500)).toEqual([]);
  });

  it('a second request replaces the first, and a rejection restores the state before the first', async () => {
    const owner = await one.signup();
    const first = (await ask(owner, 'pro')).json();
    one.clock.advance(1);
    const second = (await ask(owner, 'enterprise')).json();
    expect(second.amount).toBe(49_900);
    const list = (await one.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/payments`, token: await operatorToken() })).json().payments;
    expect(list.map((p: { id: string; status: string }) => [p.id, p.status])).toEqual([[second.paymentId, 'pending'], [first.paymentId, 'canceled']]);
    expect((await reject(owner.tenantId, second.paymentId)).json().subscription).toMatchObject({ status: 'active', plan: 'free' });
  });
});
