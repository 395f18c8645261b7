import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditActions, decisionCode, signIn, subscriptionRow } from '../../../test/billing.js';
import { snapshot, startSecondInstance, startTestApp, type SecondInstance, type SignedUp, type TestApp } from '../../../test/harness.js';

/**
 * Stripe's webhook, signed with the stripe package's own test-header helper, so that the
 * verification Tollgate runs is the package's constructEvent on the raw bytes.
 */
const OLD_SECRET = 'whsec_old_0123456789abcdef0123456789abcdef';
const NEW_SECRET = 'whsec_new_0123456789abcdef0123456789abcdef';
const PRICES = { price_pro: 'pro', price_enterprise: 'enterprise', price_free: 'free' };

let t: TestApp;
let two: SecondInstance;
beforeAll(async () => {
  const patch = (file: { billing: { stripe: { prices: Record<string, string> } }; metering: { groupCommit: boolean } }) => { file.billing.stripe.prices = PRICES; };
  t = await startTestApp({ patch, env: { STRIPE_WEBHOOK_SECRET: `${OLD_SECRET}, ${NEW_SECRET}` } });
  // The second instance decides one transaction per call (group commit off), and has no secret at all.
  two = await startSecondInstance(t, (file) => { patch(file); file.metering.groupCommit = false; });
});
afterAll(async () => {
  await two.close();
  await t.close();
});

const seconds = () => Math.floor(t.clock.now().getTime() / 1000);
let serial = 0;

function event(type: string, object: Record<string, unknown>, created = seconds()): Record<string, unknown> {
  return { id: `evt_${Date.now().toString(36)}_${serial++}`, object: 'event', api_version: '2026-11-18.endive', created, type, data: { object } };
}

async function deliver(e: Record<string, unknown>, options: { secret?: string; timestamp?: number; body?: string; header?: string | null } = {}) {
  const payload = JSON.stringify(e);
  const header = options.header === null ? undefined
    : options.header ?? Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? OLD_SECRET, timestamp: options.timestamp ?? seconds() });
  return t.request({
    method: 'POST', url: '/v1/webhooks/stripe', payload: options.body ?? payload,
    headers: { 'content-type': 'application/json', ...(header ? { 'stripe-signature': header } : {}) },
  });
}

function subscription(tenantId: string | null, fields: { id: string; status: string; start: number; end: number; price?: string; cancelAtPeriodEnd?: boolean; trialEnd?: number }) {
  return {
    id: fields.id, object: 'subscription', customer: `cus_${fields.id}`, status: fields.status, cancel_at_period_end: fields.cancelAtPeriodEnd ?? false,
    trial_end: fields.trialEnd ?? null,
    metadata: tenantId ? { tenantId } : {},
    items: { object: 'list', data: [{ id: `si_${fields.id}`, price: { id: fields.price ?? 'price_pro' }, current_period_start: fields.start, current_period_end: fields.end }] },
  };
}

function invoice(tenantId: string | null, fields: { id: string; subscription: string; start: number; end: number; amount?: number; price?: string }) {
  return {
    id: fields.id, object: 'invoice', customer: `cus_${fields.subscription}`, currency: 'eur', amount_paid: fields.amount ?? 4900, amount_due: fields.amount ?? 4900,
    parent: { type: 'subscription_details', subscription_details: { subscription: fields.subscription, metadata: tenantId ? { tenantId } : {} } },
    lines: { object: 'list', data: [{ id: `il_${fields.id}`, period: { start: fields.start, end: fields.end }, pricing: { price_details: { price: fields.price ?? 'price_pro' } } }] },
  };
}

const MONTH = 30 * 86_400;
const YEAR = 365 * 86_400;

describe('verification: a bad, missing or stale signature is 400 WEBHOOK_SIGNATURE_INVALID and writes nothing', () => {
  let owner: SignedUp;
  beforeAll(async () => { owner = await t.signup(); });

  it('tampered, wrong secret, stale, missing, empty: all refused, nothing written', async () => {
    const e = event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_bad', status: 'active', start: seconds(), end: seconds() + MONTH }));
    const signed = Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify(e), secret: OLD_SECRET, timestamp: seconds() });
    const before = await snapshot(t.db);
    const attempts = {
      tampered: await deliver(e, { header: signed, body: JSON.stringify({ ...e, type: 'customer.subscription.deleted' }) }),
      'wrong secret': await deliver(e, { secret: 'whsec_somebody_else_0123456789abcdef' }),
      'stale (301 s old)': await deliver(e, { timestamp: seconds() - 301 }),
      'no signature': await deliver(e, { header: null }),
      'garbage signature': await deliver(e, { header: 't=1,v1=deadbeef' }),
      'empty body': await t.request({ method: 'POST', url: '/v1/webhooks/stripe', headers: { 'stripe-signature': signed } }),
    };
    for (const [name, res] of Object.entries(attempts)) {
      expect([name, res.statusCode, res.json().error?.code]).toEqual([name, 400, 'WEBHOOK_SIGNATURE_INVALID']);
    }
    expect(await snapshot(t.db)).toEqual(before);
    // The package's default tolerance is five minutes: 299 s old still passes.
    expect((await deliver(e, { timestamp: seconds() - 299 })).statusCode).toBe(200);
  });

  it('an instance without STRIPE_WEBHOOK_SECRET refuses every event', async () => {
    const e = event('invoice.paid', invoice(owner.tenantId, { id: 'in_nosecret', subscription: 'sub_x', start: seconds(), end: seconds() + MONTH }));
    const payload = JSON.stringify(e);
    const res = await two.request({ method: 'POST', url: '/v1/webhooks/stripe', payload, headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: OLD_SECRET }) } });
    expect([res.statusCode, res.json().error.code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
  });
});

describe('events', () => {
  it('a checkout, then the subscription and its paid invoice: the decision goes from PAYMENT_REQUIRED to OK on both paths, the grant names the payment', async () => {
    const owner = await t.signup();
    const start = seconds();
    const checkout = event('checkout.session.completed', { id: 'cs_1', object: 'checkout.session', mode: 'subscription', subscription: 'sub_flow', customer: 'cus_sub_flow', metadata: { tenantId: owner.tenantId } });
    expect((await deliver(checkout, { secret: NEW_SECRET })).json()).toEqual({ received: true });
    // The first invoice is not paid yet: Stripe says incomplete.
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_flow', status: 'incomplete', start, end: start + MONTH })));
    expect((await subscriptionRow(t, owner.tenantId))).toMatchObject({ status: 'pending_payment', plan: 'pro', payment_method: 'stripe', provider_subscription_id: 'sub_flow', provider_customer_id: 'cus_sub_flow' });
    expect([await decisionCode(t, owner.accessToken), await decisionCode(two, owner.accessToken)]).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    // The invoice names no tenant: the subscription followed does.
    const paid = await deliver(event('invoice.paid', invoice(null, { id: 'in_flow_1', subscription: 'sub_flow', start, end: start + MONTH })));
    expect(paid.statusCode, paid.body).toBe(200);
    expect([await decisionCode(two, owner.accessToken), await decisionCode(t, owner.accessToken)]).toEqual(['OK', 'OK']);
    const sub = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/subscription`, token: owner.accessToken })).json();
    expect(sub).toMatchObject({ status: 'active', plan: 'pro', paymentMethod: 'stripe', externalPaymentId: 'in_flow_1', currentPeriodStart: new Date(start * 1000).toISOString(), currentPeriodEnd: new Date((start + MONTH) * 1000).toISOString() });
    const [payment] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments;
    expect(payment).toMatchObject({ method: 'stripe', externalPaymentId: 'in_flow_1', amount: 4900, currency: 'EUR', status: 'succeeded', plan: 'pro' });
    const grants = await t.db.asOwner<{ payment_id: string | null; amount: string }>("SELECT payment_id, amount::text FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId]);
    expect(grants).toEqual([{ payment_id: payment.id, amount: '10000' }]);
  });

  it('a replayed event answers 200 and changes nothing', async () => {
    const owner = await t.signup();
    const e = event('customer.subscription.updated', subscription(owner.tenantId, { id: 'sub_replay', status: 'active', start: seconds(), end: seconds() + MONTH }));
    expect((await deliver(e)).statusCode).toBe(200);
    const before = await snapshot(t.db);
    const again = await deliver(e);
    expect([again.statusCode, again.json()]).toEqual([200, { received: true }]);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('out of order: an older customer.subscription.updated arriving after a newer one changes nothing', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_order', status: 'active', start, end: start + MONTH }), start));
    // Stripe made these in this order: first set to cancel at the period's end, then past due; they arrive the other way round.
    const first = event('customer.subscription.updated', subscription(owner.tenantId, { id: 'sub_order', status: 'active', start, end: start + MONTH, cancelAtPeriodEnd: true }), start + 10);
    const second = event('customer.subscription.updated', subscription(owner.tenantId, { id: 'sub_order', status: 'past_due', start, end: start + MONTH }), start + 20);
    await deliver(second);
    const after = await subscriptionRow(t, owner.tenantId);
    expect(after).toMatchObject({ status: 'past_due', cancel_at_period_end: false });
    expect((await deliver(first)).statusCode).toBe(200);
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(after);
    // A later period is newer whatever the event's time: the renewal arrives, then an update of the old period.
    await deliver(event('customer.subscription.updated', subscription(owner.tenantId, { id: 'sub_order', status: 'active', start: start + MONTH, end: start + 2 * MONTH }), start + 30));
    await deliver(event('customer.subscription.updated', subscription(owner.tenantId, { id: 'sub_order', status: 'canceled', start, end: start + MONTH }), start + 40));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', current_period_end: new Date((start + 2 * MONTH) * 1000) });
    const outcomes = await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [first.id]);
    expect(outcomes[0]!.outcome).toMatch(/^ignored/);
  });

  it('a switch from a yearly price to a monthly one begins a period that ends sooner: it is the newer state, the deletion after it applies, the yearly invoice delivered late brings nothing back', async () => {
    const owner = await t.signup();
    const start = seconds();
    const sub = (status: string, from: number, to: number, price: string) => subscription(owner.tenantId, { id: 'sub_switch_y', status, start: from, end: to, price });
    await deliver(event('customer.subscription.created', sub('active', start, start + YEAR, 'price_enterprise'), start));
    // Stripe resets the cycle at the switch: the monthly period begins now, and ends eleven months before the yearly one would have.
    const switched = start + 100;
    const update = event('customer.subscription.updated', sub('active', switched, switched + MONTH, 'price_pro'), switched);
    await deliver(update);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', plan: 'pro', current_period_start: new Date(switched * 1000), current_period_end: new Date((switched + MONTH) * 1000) });
    // The yearly period's invoice, paid before the switch, delivered after it: of the period the switch ended.
    await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_switch_y', subscription: 'sub_switch_y', start, end: start + YEAR, amount: 499000, price: 'price_enterprise' }), start + 1));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ plan: 'pro', current_period_end: new Date((switched + MONTH) * 1000) });
    expect(await t.db.asOwner("SELECT 1 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId])).toEqual([]);
    // The monthly period's invoice brings its credits; then the customer ends the subscription.
    await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_switch_m', subscription: 'sub_switch_y', start: switched, end: switched + MONTH }), switched + 1));
    const deletion = event('customer.subscription.deleted', sub('canceled', switched, switched + MONTH, 'price_pro'), switched + 200);
    await deliver(deletion);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'canceled', plan: 'pro' });
    expect(await decisionCode(t, owner.accessToken)).toBe('PAYMENT_REQUIRED');
    const outcomes = await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id IN ($1, $2) ORDER BY received_at', [update.id, deletion.id]);
    expect(outcomes.map((o) => o.outcome)).toEqual(['applied: active → active', 'applied: active → canceled']);
  });

  it('states made in the same second (Stripe\'s created is whole seconds): the deletion wins the tie, the subscription\'s first (incomplete) state loses it, whatever the arrival order', async () => {
    const owner = await t.signup();
    const start = seconds();
    const sub = (id: string, status: string) => subscription(owner.tenantId, { id, status, start, end: start + MONTH });
    await deliver(event('customer.subscription.created', sub('sub_tie', 'active'), start));
    await deliver(event('customer.subscription.deleted', sub('sub_tie', 'canceled'), start + 5));
    // Made before the deletion, in the same second; delivered after it.
    const late = event('customer.subscription.updated', sub('sub_tie', 'active'), start + 5);
    await deliver(late);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'canceled' });
    expect((await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [late.id]))[0]!.outcome).toMatch(/^ignored: older/);
    // Stripe sends nothing more of a deleted subscription: months later it is still refused.
    t.clock.set((start + 6 * MONTH) * 1000 + 250);
    await t.deps.metering.sweep(t.clock.now());
    expect(await decisionCode(t, await signIn(t, owner))).toBe('PAYMENT_REQUIRED');
    t.clock.set((start + 10) * 1000 + 250);

    // A new subscription: its checkout, then the update its first payment made (incomplete → active), then its creation, all in one second.
    const again = start + 20;
    const next = (status: string) => subscription(owner.tenantId, { id: 'sub_tie_2', status, start: again, end: again + MONTH });
    await deliver(event('checkout.session.completed', { id: 'cs_tie', object: 'checkout.session', mode: 'subscription', subscription: 'sub_tie_2', customer: 'cus_sub_tie_2', metadata: { tenantId: owner.tenantId } }, again));
    await deliver(event('customer.subscription.updated', next('active'), again));
    await deliver(event('customer.subscription.created', next('incomplete'), again));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', provider_subscription_id: 'sub_tie_2' });
    // Of equal rank the later arrival applies, as before: a past_due made in the same second as that update.
    await deliver(event('customer.subscription.updated', next('past_due'), again));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'past_due' });
  });

  it('a subscription\'s invoice is priced against its plan: in another currency, or billing less than the price, it is recorded and grants nothing; a coupon the merchant gave is theirs to give', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_priced', status: 'active', start, end: start + MONTH }), start));
    const bill = (id: string, amount?: number) => invoice(owner.tenantId, { id, subscription: 'sub_priced', start, end: start + MONTH, ...(amount === undefined ? {} : { amount }) });
    const refused = [event('invoice.paid', { ...bill('in_priced_usd'), currency: 'usd' }, start + 1), event('invoice.paid', bill('in_priced_cent', 1), start + 2)];
    for (const e of refused) {
      expect((await deliver(e)).statusCode).toBe(200);
      expect((await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [e.id]))[0]!.outcome).toMatch(/^recorded, not applied: /);
    }
    const grants = () => t.db.asOwner<{ amount: string }>("SELECT amount::text FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId]);
    expect(await grants()).toEqual([]);
    const payments = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments as { externalPaymentId: string; reason: string | null }[];
    expect(payments.map((p) => [p.externalPaymentId, p.reason]).sort()).toEqual([
      ['in_priced_cent', 'not applied: 1 EUR does not cover the pro plan\'s price of 4900 EUR'],
      ['in_priced_usd', 'not applied: 4900 USD does not cover the pro plan\'s price of 4900 EUR'],
    ]);
    // 20 % off: 39.20 paid, the period's line billing the price before the discount.
    const discounted = bill('in_priced_coupon', 3920);
    const lines = { object: 'list', data: discounted.lines.data.map((l) => ({ ...l, amount: 4900, discount_amounts: [{ amount: 980, discount: 'di_1' }] })) };
    await deliver(event('invoice.paid', { ...discounted, lines }, start + 3));
    expect(await grants()).toEqual([{ amount: '10000' }]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', external_payment_id: 'in_priced_coupon' });
  });

  it('an unknown event type answers 200, is recorded as ignored, changes nothing else', async () => {
    const before = await snapshot(t.db);
    const e = event('customer.tax_id.created', { id: 'txi_1', object: 'tax_id' });
    expect((await deliver(e)).json()).toEqual({ received: true });
    const after = await snapshot(t.db);
    expect({ ...after, provider_events: '' }).toEqual({ ...before, provider_events: '' });
    expect(await t.db.asOwner('SELECT type, outcome FROM provider_events WHERE event_id = $1', [e.id])).toEqual([{ type: 'customer.tax_id.created', outcome: expect.stringMatching(/^ignored/) }]);
  });

  it('a verified event of a type Tollgate ignores answers 200 without a created time; one it applies is 400 without one, and writes nothing', async () => {
    const owner = await t.signup();
    // As hand-made as it gets: no object, no api_version, no created.
    const bare = { id: `evt_bare_${serial++}`, type: 'customer.created', data: { object: {} } };
    const before = await snapshot(t.db);
    const answered = await deliver(bare);
    expect([answered.statusCode, answered.json()]).toEqual([200, { received: true }]);
    expect({ ...(await snapshot(t.db)), provider_events: '' }).toEqual({ ...before, provider_events: '' });
    expect(await t.db.asOwner('SELECT type, outcome FROM provider_events WHERE event_id = $1', [bare.id])).toEqual([{ type: 'customer.created', outcome: expect.stringMatching(/^ignored/) }]);
    // A checkout that is no subscription's is ignored too; one that is, applied, needs its time.
    const oneOff = { id: `evt_bare_${serial++}`, type: 'checkout.session.completed', data: { object: { mode: 'payment', metadata: { tenantId: owner.tenantId } } } };
    expect((await deliver(oneOff)).json()).toEqual({ received: true });

    const applied = [
      event('customer.subscription.updated', subscription(owner.tenantId, { id: 'sub_undated', status: 'active', start: seconds(), end: seconds() + MONTH })),
      event('invoice.paid', invoice(owner.tenantId, { id: 'in_undated', subscription: 'sub_undated', start: seconds(), end: seconds() + MONTH })),
      event('checkout.session.completed', { mode: 'subscription', subscription: 'sub_undated', customer: 'cus_undated', metadata: { tenantId: owner.tenantId } }),
    ];
    const afterIgnored = await snapshot(t.db);
    for (const e of applied) {
      for (const created of [undefined, '1767225600', 1e15]) {
        const res = await deliver({ ...e, id: `${String(e.id)}_${String(created)}`, created });
        expect([e.type, created, res.statusCode, res.json().error?.code]).toEqual([e.type, created, 400, 'BAD_REQUEST']);
        expect(res.json().error.message).toBe(`a ${String(e.type)} event needs its created time (seconds since 1970): it dates what the event changes`);
      }
    }
    expect(await snapshot(t.db)).toEqual(afterIgnored);
  });

  it('a failed invoice makes the subscription past_due (working through the grace); the deletion cancels it, and a late payment brings it back no more', async () => {
    const owner = await t.signup();
    const start = seconds();
    const sub = (status: string) => subscription(owner.tenantId, { id: 'sub_fail', status, start, end: start + MONTH });
    const bill = invoice(owner.tenantId, { id: 'in_fail_1', subscription: 'sub_fail', start, end: start + MONTH });
    /** The event delivered, then the subscription's status, the decision's code and the invoice's payment as they stand. */
    const after = async (e: Record<string, unknown>) => {
      const res = await deliver(e);
      expect(res.statusCode, res.body).toBe(200);
      const [payment] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments;
      return [(await subscriptionRow(t, owner.tenantId)).status, await decisionCode(t, owner.accessToken), payment?.status, payment?.externalPaymentId];
    };
    await deliver(event('customer.subscription.created', sub('active'), start));
    expect(await after(event('invoice.payment_failed', bill, start + 5))).toEqual(['past_due', 'OK', 'failed', 'in_fail_1']);
    expect(await after(event('customer.subscription.deleted', sub('canceled'), start + 10))).toEqual(['canceled', 'PAYMENT_REQUIRED', 'failed', 'in_fail_1']);
    // The customer pays the invoice still open after the deletion: recorded, but the subscription Stripe ended stays ended.
    expect(await after(event('invoice.paid', bill, start + 20))).toEqual(['canceled', 'PAYMENT_REQUIRED', 'succeeded', 'in_fail_1']);
  });

  it('a Stripe trial is Stripe\'s: its $0 invoice grants the plan\'s credits once and keeps the trial, and its end waits for Stripe', async () => {
    const owner = await t.signup();
    const op = await t.operator();
    const start = seconds();
    const trialEnd = start + 14 * 86_400;
    const trialing = subscription(owner.tenantId, { id: 'sub_trial', status: 'trialing', start, end: trialEnd, trialEnd });
    await deliver(event('customer.subscription.created', trialing, start));
    // A decision before the trial's invoice: the period's credits are the invoice's to bring, not granted here as well.
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    expect((await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_trial', subscription: 'sub_trial', start, end: trialEnd, amount: 0 }), start))).statusCode).toBe(200);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    const grants = (from: number) => t.db.asOwner<{ amount: string; paid: boolean }>(
      "SELECT amount::text, payment_id IS NOT NULL AS paid FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND idempotency_key LIKE $2", [owner.tenantId, `period:${new Date(from * 1000).toISOString()}%`]);
    expect(await grants(start)).toEqual([{ amount: '10000', paid: true }]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'trialing', trial_ends_at: new Date(trialEnd * 1000), current_period_end: new Date(trialEnd * 1000) });
    // An operator neither ends nor starts a trial Stripe keeps.
    for (const url of [`/v1/admin/tenants/${owner.tenantId}/trial/reset`, `/v1/admin/tenants/${owner.tenantId}/trial`]) {
      const res = await t.request({ method: 'POST', url, token: op.accessToken, ...(url.endsWith('trial') ? { payload: { days: 30 } } : {}) });
      expect([url, res.statusCode, res.json().error?.code]).toEqual([url, 409, 'SUBSCRIPTION_MANAGED_BY_PROVIDER']);
    }
    // The trial's end passes before Stripe's update: the sweeper suspends nothing and rolls no period; the rule refuses meanwhile.
    // Off the whole second: a signup after this must not begin its free period on the instant a test's Stripe period begins.
    t.clock.set((trialEnd + 60) * 1000 + 250);
    await t.deps.metering.sweep(t.clock.now());
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'trialing', current_period_end: new Date(trialEnd * 1000) });
    expect(await auditActions(t, owner.tenantId, 'subscription.trial')).toEqual([]);
    const token = await signIn(t, owner);
    expect(await decisionCode(t, token)).toBe('PAYMENT_REQUIRED');
    // Stripe says active and bills the first month: that period's credits come with its payment.
    await deliver(event('customer.subscription.updated', subscription(owner.tenantId, { id: 'sub_trial', status: 'active', start: trialEnd, end: trialEnd + MONTH }), trialEnd));
    await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_trial_2', subscription: 'sub_trial', start: trialEnd, end: trialEnd + MONTH }), trialEnd + 1));
    expect(await decisionCode(t, token)).toBe('OK');
    expect(await grants(trialEnd)).toEqual([{ amount: '10000', paid: true }]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', trial_ends_at: null });
  });

  it('an operator\'s trial after Stripe ended the subscription is Tollgate\'s: it renews itself with the plan\'s credits', async () => {
    const owner = await t.signup();
    const op = await t.operator();
    const start = seconds();
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_after', status: 'active', start, end: start + MONTH }), start));
    await deliver(event('customer.subscription.deleted', subscription(owner.tenantId, { id: 'sub_after', status: 'canceled', start, end: start + MONTH }), start + 1));
    const set = await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/trial`, token: op.accessToken, payload: { days: 60 } });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ status: 'trialing', paymentMethod: null });
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    const trialStart = Date.parse(set.json().currentPeriodStart);
    t.clock.set(Date.parse(set.json().currentPeriodEnd) + 1000);
    expect(await decisionCode(t, await signIn(t, owner))).toBe('OK');
    const grants = await t.db.asOwner<{ key: string }>("SELECT idempotency_key AS key FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND created_at >= $2 ORDER BY created_at", [owner.tenantId, new Date(trialStart)]);
    expect(grants.map((g) => g.key)).toEqual([`period:${new Date(trialStart).toISOString()}`, `period:${set.json().currentPeriodEnd}`]);
    // A late payment of the subscription Stripe ended changes nothing of the trial.
    await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_after', subscription: 'sub_after', start, end: start + MONTH })));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'trialing', payment_method: null });
  });

  it('a period\'s paid invoice arriving after a newer state of that period still grants the period\'s credits, once', async () => {
    const owner = await t.signup();
    const start = seconds();
    // Stripe made the invoice's payment first, then the update it caused; they arrive the other way round.
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_late_inv', status: 'active', start, end: start + MONTH }), start + 2));
    const paid = event('invoice.paid', invoice(owner.tenantId, { id: 'in_late_inv', subscription: 'sub_late_inv', start, end: start + MONTH }), start + 1);
    expect((await deliver(paid)).statusCode).toBe(200);
    const grants = () => t.db.asOwner<{ amount: string; paid: boolean }>(
      "SELECT amount::text, payment_id IS NOT NULL AS paid FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND idempotency_key LIKE $2", [owner.tenantId, `period:${new Date(start * 1000).toISOString()}%`]);
    expect(await grants()).toEqual([{ amount: '10000', paid: true }]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', provider_updated_at: new Date((start + 2) * 1000) });
    await deliver({ ...paid, id: `${String(paid.id)}_again` });
    expect(await grants()).toEqual([{ amount: '10000', paid: true }]);
  });

  it('a returning customer\'s new subscription, its invoice paid before Stripe tells of it: its first period\'s credits come when it does', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_first', status: 'active', start, end: start + MONTH }), start));
    await deliver(event('customer.subscription.deleted', subscription(owner.tenantId, { id: 'sub_first', status: 'canceled', start, end: start + MONTH }), start + 1));
    const again = start + 10;
    // The new subscription's invoice arrives first: another subscription than the one followed, recorded only.
    await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_second', subscription: 'sub_second', start: again, end: again + MONTH }), again));
    expect(await decisionCode(t, owner.accessToken)).toBe('PAYMENT_REQUIRED');
    await deliver(event('checkout.session.completed', { id: 'cs_second', object: 'checkout.session', mode: 'subscription', subscription: 'sub_second', customer: 'cus_sub_second', metadata: { tenantId: owner.tenantId } }, again));
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_second', status: 'active', start: again, end: again + MONTH }), again));
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    const grants = await t.db.asOwner<{ amount: string; payment: string | null }>(
      "SELECT amount::text, payment_id AS payment FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND idempotency_key LIKE $2", [owner.tenantId, `period:${new Date(again * 1000).toISOString()}%`]);
    const payments = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments as { id: string; externalPaymentId: string }[];
    expect(grants).toEqual([{ amount: '10000', payment: payments.find((p) => p.externalPaymentId === 'in_second')!.id }]);
    // The first subscription's late invoice grants nothing: it is not the one followed.
    await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_first', subscription: 'sub_first', start, end: start + MONTH }), again + 1));
    expect(await t.db.asOwner("SELECT 1 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND idempotency_key LIKE $2", [owner.tenantId, `period:${new Date(start * 1000).toISOString()}%`])).toEqual([]);
  });

  it('a one-off invoice covering the price opens a period Tollgate keeps: it ends unpaid, and the owner may cancel it', async () => {
    const owner = await t.signup();
    const start = seconds();
    const oneOff = {
      id: 'in_one_off', object: 'invoice', customer: 'cus_one_off', currency: 'eur', amount_paid: 4900, amount_due: 4900, metadata: { tenantId: owner.tenantId }, parent: null,
      lines: { object: 'list', data: [{ id: 'il_one_off', period: { start, end: start + MONTH }, pricing: { price_details: { price: 'price_pro' } } }] },
    };
    expect((await deliver(event('invoice.paid', oneOff, start))).statusCode).toBe(200);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', plan: 'pro', payment_method: 'stripe', provider_subscription_id: null });
    // Three months on, nothing paid since: past due from the period's end, suspended once the grace ran out.
    t.clock.set((start + 3 * MONTH) * 1000 + 250);
    await t.deps.metering.sweep(t.clock.now());
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'suspended', past_due_since: new Date((start + MONTH) * 1000) });
    const token = await signIn(t, owner);
    expect(await decisionCode(t, token)).toBe('PAYMENT_REQUIRED');
    const cancel = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/cancel`, token, payload: {} });
    expect(cancel.statusCode, cancel.body).toBe(200);
  });

  it('a failed one-off invoice (a top-up) moves no subscription: neither a free tenant nor one whose paid period runs is past due, or suspended after the grace', async () => {
    const free = await t.signup();
    const paid = await t.signup();
    const start = seconds();
    const oneOff = (tenantId: string, id: string, amount: number, price: string) => ({
      id, object: 'invoice', customer: `cus_${id}`, currency: 'eur', amount_paid: amount, amount_due: amount, metadata: { tenantId }, parent: null,
      lines: { object: 'list', data: [{ id: `il_${id}`, period: { start, end: start + MONTH }, pricing: { price_details: { price } } }] },
    });
    await deliver(event('invoice.paid', oneOff(paid.tenantId, 'in_paid_up', 4900, 'price_pro'), start));
    const before = await subscriptionRow(t, paid.tenantId);
    expect(before).toMatchObject({ status: 'active', plan: 'pro' });
    for (const [owner, id] of [[free, 'in_topup_free'], [paid, 'in_topup_paid']] as const) {
      const failed = event('invoice.payment_failed', oneOff(owner.tenantId, id, 500, 'price_topup'), start + 60);
      expect((await deliver(failed)).statusCode).toBe(200);
      expect((await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [failed.id]))[0]!.outcome).toMatch(/^recorded: a failed payment of no subscription/);
    }
    expect(await subscriptionRow(t, free.tenantId)).toMatchObject({ status: 'active', plan: 'free', past_due_since: null });
    expect(await subscriptionRow(t, paid.tenantId)).toEqual(before);
    // Eight days on (past the grace): both still served.
    t.clock.set((start + 8 * 86_400) * 1000 + 250);
    await t.deps.metering.sweep(t.clock.now());
    expect([await decisionCode(t, await signIn(t, free)), await decisionCode(t, await signIn(t, paid))]).toEqual(['OK', 'OK']);
    expect((await subscriptionRow(t, free.tenantId)).status).toBe('active');
  });

  it('a one-off invoice renews the plan only when it names it: one of a price no plan has (a top-up), at or above the price, leaves the paid period and its credits as they are', async () => {
    const owner = await t.signup();
    const start = seconds();
    const oneOff = (id: string, amount: number, price: string, from: number) => ({
      id, object: 'invoice', customer: 'cus_renewal', currency: 'eur', amount_paid: amount, amount_due: amount, metadata: { tenantId: owner.tenantId }, parent: null,
      lines: { object: 'list', data: [{ id: `il_${id}`, period: { start: from, end: from + MONTH }, pricing: { price_details: { price } } }] },
    });
    await deliver(event('invoice.paid', oneOff('in_plan', 4900, 'price_pro', start), start));
    const paidUp = await subscriptionRow(t, owner.tenantId);
    expect(paidUp).toMatchObject({ status: 'active', plan: 'pro', current_period_start: new Date(start * 1000) });
    // Ten days on, 100 EUR of credits bought: more than the plan's price, and no plan's.
    const later = start + 10 * 86_400;
    const topUp = event('invoice.paid', oneOff('in_topup_big', 10_000, 'price_topup', later), later);
    await deliver(topUp);
    expect((await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [topUp.id]))[0]!.outcome)
      .toBe('recorded, not applied: a payment of no subscription naming no plan, while the pro plan is paid up or free (a top-up or an order, not a renewal)');
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(paidUp);
    const grants = await t.db.asOwner<{ amount: string }>("SELECT amount::text FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId]);
    expect(grants).toEqual([{ amount: '10000' }]);
    // One naming the plan is its renewal, paid ahead or not: the period it bills.
    await deliver(event('invoice.paid', oneOff('in_plan_2', 4900, 'price_pro', start + MONTH), later + 1));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', current_period_start: new Date((start + MONTH) * 1000) });
  });

  it('a late payment of a subscription Stripe ended does not displace a bank transfer\'s period', async () => {
    const owner = await t.signup();
    const op = await t.operator();
    const start = seconds();
    const sub = (status: string) => subscription(owner.tenantId, { id: 'sub_bt', status, start, end: start + MONTH });
    await deliver(event('customer.subscription.created', sub('active'), start));
    const bill = invoice(owner.tenantId, { id: 'in_bt_1', subscription: 'sub_bt', start, end: start + MONTH });
    await deliver(event('invoice.payment_failed', bill, start + 1));
    await deliver(event('customer.subscription.deleted', sub('canceled'), start + 2));
    const confirmed = await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/payments/bank-transfer`, token: op.accessToken, payload: { externalPaymentId: 'BANK-AFTER-STRIPE', amount: 4900, currency: 'EUR', payerName: 'Owner', plan: 'pro' } });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const transferred = await subscriptionRow(t, owner.tenantId);
    expect(transferred).toMatchObject({ status: 'active', payment_method: 'bank_transfer' });
    // The customer pays the invoice left open: recorded, and the transfer's period stands.
    expect((await deliver(event('invoice.paid', bill, start + 3))).statusCode).toBe(200);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', payment_method: 'bank_transfer', current_period_end: transferred.current_period_end });
    expect(await t.db.asOwner("SELECT 1 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND idempotency_key LIKE $2", [owner.tenantId, `period:${new Date(start * 1000).toISOString()}%`])).toEqual([]);
  });

  it('a new subscription Stripe says is incomplete does not take a tenant off a paid transfer\'s period: held, its invoice and checkout recorded, until Stripe says it is active', async () => {
    const owner = await t.signup();
    const op = await t.operator();
    const confirmed = await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/payments/bank-transfer`, token: op.accessToken, payload: { externalPaymentId: 'BANK-BEFORE-STRIPE', amount: 4900, currency: 'EUR', payerName: 'Owner', plan: 'pro' } });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const transferred = await subscriptionRow(t, owner.tenantId);
    const start = seconds();
    const sub = (status: string) => subscription(owner.tenantId, { id: 'sub_held', status, start, end: start + MONTH });
    const outcome = async (e: Record<string, unknown>) => (await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [e.id]))[0]!.outcome;
    const created = event('customer.subscription.created', sub('incomplete'), start);
    await deliver(created);
    expect(await outcome(created)).toMatch(/^held: /);
    // Its invoice paid, its checkout completed: Stripe still says incomplete until its update.
    const paid = event('invoice.paid', invoice(owner.tenantId, { id: 'in_held', subscription: 'sub_held', start, end: start + MONTH }), start + 1);
    await deliver(paid);
    expect(await outcome(paid)).toMatch(/^recorded, its subscription still held: /);
    await deliver(event('checkout.session.completed', { id: 'cs_held', object: 'checkout.session', mode: 'subscription', subscription: 'sub_held', customer: 'cus_sub_held', metadata: { tenantId: owner.tenantId } }, start + 2));
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(transferred);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    // The update its payment made, made before the checkout's completion.
    await deliver(event('customer.subscription.updated', sub('active'), start + 1));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({
      status: 'active', plan: 'pro', payment_method: 'stripe', provider_subscription_id: 'sub_held', provider_customer_id: 'cus_sub_held',
      current_period_start: new Date(start * 1000), current_period_end: new Date((start + MONTH) * 1000),
    });
    const payments = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments as { id: string; externalPaymentId: string }[];
    const grants = await t.db.asOwner("SELECT 1 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id = $2", [owner.tenantId, payments.find((p) => p.externalPaymentId === 'in_held')!.id]);
    expect(grants).toHaveLength(1);
    expect(await t.db.asOwner('SELECT 1 FROM provider_held_states WHERE tenant_id = $1', [owner.tenantId])).toEqual([]);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
  });

  it('an invoice\'s period is its subscription line\'s, never a proration\'s: a proration alone opens nothing, a renewal after one grants its period', async () => {
    const owner = await t.signup();
    const start = seconds();
    const end = start + MONTH;
    const line = (id: string, from: number, to: number, proration: boolean) => ({
      id, period: { start: from, end: to }, pricing: { price_details: { price: 'price_pro' } },
      parent: { type: 'subscription_item_details', subscription_item_details: { subscription_item: 'si_sub_pr', proration } },
    });
    const bill = (id: string, lines: unknown[], amount: number) => ({ ...invoice(owner.tenantId, { id, subscription: 'sub_pr', start, end, amount }), lines: { object: 'list', data: lines } });
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_pr', status: 'active', start, end }), start));
    await deliver(event('invoice.paid', bill('in_pr_1', [line('il_pr_1', start, end, false)], 4900), start));
    // A mid-period upgrade invoiced at once: one proration line, [now, end].
    await deliver(event('invoice.paid', bill('in_pr_2', [line('il_pr_2', start + 10 * 86_400, end, true)], 150), start + 10 * 86_400));
    const paidGrants = async () => (await t.db.asOwner<{ key: string }>("SELECT idempotency_key AS key FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL ORDER BY created_at", [owner.tenantId])).map((g) => g.key.split(':pay_')[0]).sort();
    expect(await paidGrants()).toEqual([`period:${new Date(start * 1000).toISOString()}`]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ current_period_start: new Date(start * 1000), current_period_end: new Date(end * 1000) });
    // The renewal carries a pending proration first, then the new period.
    await deliver(event('invoice.paid', bill('in_pr_3', [line('il_pr_3a', start + 20 * 86_400, end, true), line('il_pr_3b', end, end + MONTH, false)], 5050), end));
    expect(await paidGrants()).toEqual([`period:${new Date(start * 1000).toISOString()}`, `period:${new Date(end * 1000).toISOString()}`]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', current_period_start: new Date(end * 1000), current_period_end: new Date((end + MONTH) * 1000) });
  });

  it('a transfer confirmed while Stripe bills the subscription again is refused: it would wait behind a period Tollgate cannot end', async () => {
    const owner = await t.signup();
    const op = await t.operator();
    const start = seconds();
    const bill = invoice(owner.tenantId, { id: 'in_switch', subscription: 'sub_switch', start, end: start + MONTH });
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_switch', status: 'active', start, end: start + MONTH }), start));
    await deliver(event('invoice.payment_failed', bill, start + 1));
    const asked = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/bank-transfer`, token: owner.accessToken, payload: { plan: 'pro' } });
    expect(asked.statusCode, asked.body).toBe(201);
    // Stripe's retry pays the invoice: Stripe bills the subscription again.
    await deliver(event('invoice.paid', bill, start + 2));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', payment_method: 'stripe' });
    const before = await snapshot(t.db);
    const confirmed = await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/payments/bank-transfer`, token: op.accessToken, payload: { externalPaymentId: 'BANK-SWITCH', amount: 4900, currency: 'EUR', payerName: 'Owner', paymentId: asked.json().paymentId } });
    expect([confirmed.statusCode, confirmed.json().error?.code]).toEqual([409, 'SUBSCRIPTION_MANAGED_BY_PROVIDER']);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('a suspension for a grace run out stays owed: Stripe saying past_due again starts no new grace', async () => {
    const owner = await t.signup();
    const start = seconds();
    const sub = (status: string) => subscription(owner.tenantId, { id: 'sub_grace', status, start, end: start + MONTH });
    await deliver(event('customer.subscription.created', sub('active'), start));
    await deliver(event('invoice.payment_failed', invoice(owner.tenantId, { id: 'in_grace', subscription: 'sub_grace', start, end: start + MONTH }), start + 1));
    t.clock.set((start + 8 * 86_400) * 1000 + 250);
    await t.deps.metering.sweep(t.clock.now());
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'suspended' });
    // Stripe retries and still says past_due.
    await deliver(event('customer.subscription.updated', sub('past_due'), seconds()));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'past_due', past_due_since: new Date((start + 1) * 1000) });
    expect(await decisionCode(t, await signIn(t, owner))).toBe('PAYMENT_REQUIRED');
  });

  it('an event naming no tenant goes to the tenant following its subscription, not to another tenant of the same customer', async () => {
    // The tenant ordered first by id follows the other subscription: a guess by order would pick it.
    const [a, b] = [await t.signup(), await t.signup()].sort((x, y) => (x.tenantId < y.tenantId ? -1 : 1)) as [SignedUp, SignedUp];
    const start = seconds();
    const shared = (tenantId: string, id: string, status: string) => ({ ...subscription(tenantId, { id, status, start, end: start + MONTH }), customer: 'cus_shared' });
    await deliver(event('customer.subscription.created', shared(a.tenantId, 'sub_sh_1', 'active'), start));
    await deliver(event('customer.subscription.created', shared(b.tenantId, 'sub_sh_2', 'past_due'), start));
    const paid = { ...invoice(null, { id: 'in_sh_2', subscription: 'sub_sh_2', start, end: start + MONTH }), customer: 'cus_shared' };
    expect((await deliver(event('invoice.paid', paid, start + 1))).statusCode).toBe(200);
    const payments = async (o: SignedUp) => ((await t.request({ method: 'GET', url: `/v1/tenants/${o.tenantId}/payments`, token: o.accessToken })).json().payments as { externalPaymentId: string }[]).map((p) => p.externalPaymentId);
    expect([await payments(a), await payments(b)]).toEqual([[], ['in_sh_2']]);
    expect(await subscriptionRow(t, b.tenantId)).toMatchObject({ status: 'active' });
  });

  it('a new customer\'s invoice paid before its checkout and subscription: the plan it names, its credits once', async () => {
    const owner = await t.signup();
    const start = seconds();
    // Stripe made the subscription first, then the invoice's payment, then the checkout's completion; they arrive the other way round.
    await deliver(event('invoice.paid', invoice(owner.tenantId, { id: 'in_early', subscription: 'sub_early', start, end: start + MONTH }), start + 1));
    await deliver(event('checkout.session.completed', { id: 'cs_early', object: 'checkout.session', mode: 'subscription', subscription: 'sub_early', customer: 'cus_sub_early', metadata: { tenantId: owner.tenantId } }, start + 2));
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_early', status: 'active', start, end: start + MONTH }), start));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', plan: 'pro', current_period_start: new Date(start * 1000) });
    const paid = await t.db.asOwner<{ amount: string }>("SELECT amount::text FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId]);
    expect(paid).toEqual([{ amount: '10000' }]);
    const [payment] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments;
    expect(payment).toMatchObject({ externalPaymentId: 'in_early', plan: 'pro' });
  });

  it('events for a tenant that does not exist, or naming none, are recorded as ignored', async () => {
    for (const tenantId of ['tnt_00000000000000000000000000', null]) {
      const e = event('customer.subscription.updated', subscription(tenantId, { id: `sub_none_${serial}`, status: 'active', start: seconds(), end: seconds() + MONTH }));
      expect((await deliver(e)).statusCode).toBe(200);
      expect((await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [e.id]))[0]!.outcome).toMatch(/^ignored: no tenant/);
    }
  });
});

describe('limits', () => {
  it('a plan Stripe changes announces the thresholds the new limits put the counts at', async () => {
    const owner = await t.signup();
    const start = seconds();
    const fields = { id: 'sub_downgrade', status: 'active', start, end: start + MONTH };
    expect((await deliver(event('customer.subscription.created', subscription(owner.tenantId, fields)))).statusCode).toBe(200);
    expect((await subscriptionRow(t, owner.tenantId))).toMatchObject({ plan: 'pro', status: 'active' });
    for (let i = 0; i < 6; i++) {
      const d = (await t.request({ method: 'POST', url: '/v1/authorize', token: owner.accessToken, payload: { operation: 'image_prompt_extraction' } })).json();
      expect(d.code).toBe('OK');
      await t.request({ method: 'POST', url: `/v1/reservations/${d.reservation.id}/release`, token: owner.accessToken });
    }
    const thresholds = () => t.db.asOwner<{ data: Record<string, unknown> }>("SELECT data FROM webhook_events WHERE tenant_id = $1 AND type = 'limit.threshold' ORDER BY (data->>'threshold')::int", [owner.tenantId]);
    expect(await thresholds()).toEqual([]);
    // Pro's 1,000 runs become free's 10: 6 of 10 is past 50 %, with no admission crossing it.
    t.clock.advance(2000);
    expect((await deliver(event('customer.subscription.updated', subscription(owner.tenantId, { ...fields, price: 'price_free' })))).statusCode).toBe(200);
    expect((await subscriptionRow(t, owner.tenantId))).toMatchObject({ plan: 'free' });
    expect((await thresholds()).map((e) => e.data)).toEqual([expect.objectContaining({ meter: 'runs', threshold: 50, used: 6, limit: 10 })]);
  });
});

describe('refunds and disputes', () => {
  const DAY = 86_400;
  /** A one-off invoice paid for the pro plan; `paidBy`: its payment intent, as the invoice names it before API 2025-03 (`payment_intent`) or after (its `payments`). */
  function oneOff(tenantId: string, id: string, start: number, paidBy?: { intent: string; shape: 'old' | 'new' }) {
    return {
      id, object: 'invoice', customer: `cus_${id}`, currency: 'eur', amount_paid: 4900, amount_due: 4900, metadata: { tenantId }, parent: null,
      lines: { object: 'list', data: [{ id: `il_${id}`, period: { start, end: start + MONTH }, pricing: { price_details: { price: 'price_pro' } } }] },
      ...(paidBy?.shape === 'old' ? { payment_intent: paidBy.intent } : {}),
      ...(paidBy?.shape === 'new' ? { payments: { object: 'list', data: [{ object: 'invoice_payment', status: 'paid', payment: { type: 'payment_intent', payment_intent: paidBy.intent } }] } } : {}),
    };
  }
  /** A charge as charge.refunded carries it: `invoice` named before API 2025-03 only. */
  function charge(f: { invoice?: string; intent?: string; refunded: number; full: boolean; metadata?: Record<string, string> }) {
    return {
      id: `ch_${serial}`, object: 'charge', amount: 4900, currency: 'eur', amount_refunded: f.refunded, refunded: f.full,
      invoice: f.invoice ?? null, payment_intent: f.intent ?? null, metadata: f.metadata ?? {},
    };
  }
  const outcome = async (e: Record<string, unknown>) => (await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [e.id]))[0]!.outcome;
  const paymentOf = async (owner: SignedUp, token = owner.accessToken) => (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token })).json().payments[0];
  /** The tenant's ledger as an operator reads it (the tenant's own route answers 402 once it must pay). */
  const ledger = async (owner: SignedUp) => (await t.request({ method: 'GET', url: `/v1/admin/tenants/${owner.tenantId}/credits/ledger`, token: (await t.operator()).accessToken })).json().entries;
  const takenBack = async (owner: SignedUp) => (await ledger(owner)).filter((e: { kind: string }) => e.kind === 'adjust');
  const credits = async (owner: SignedUp, token: string) => (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token })).json();

  it('a one-off payment refunded in full: refunded, its credits taken back (a ledger entry naming it), its period ended past due since it began, the decision refused; once per event', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('invoice.paid', oneOff(owner.tenantId, 'in_refund_full', start), start));
    const paid = await paymentOf(owner);
    expect(paid).toMatchObject({ status: 'succeeded', refundedAmount: 0, dispute: null });
    const before = await credits(owner, owner.accessToken);
    // Ten days on (past the seven days' grace from the period's start), the customer is refunded.
    t.clock.set((start + 10 * DAY) * 1000);
    const token = await signIn(t, owner);
    expect(await decisionCode(t, token)).toBe('OK');
    const refund = event('charge.refunded', charge({ invoice: 'in_refund_full', refunded: 4900, full: true }));
    expect((await deliver(refund)).statusCode).toBe(200);
    expect(await outcome(refund)).toBe(`applied: payment ${paid.id} refunded in full, 10000 credits taken back, its period ended (past_due)`);
    expect(await paymentOf(owner, token)).toMatchObject({ id: paid.id, status: 'refunded', refundedAmount: 4900, reason: 'refunded in full' });
    expect(await takenBack(owner)).toEqual([expect.objectContaining({ amount: -10000, paymentId: paid.id, balanceAfter: before.balance - 10000 })]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'past_due', past_due_since: new Date(start * 1000), current_period_end: t.clock.now() });
    expect([await decisionCode(t, token), await decisionCode(two, token)]).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    expect(await auditActions(t, owner.tenantId, 'payment.')).toEqual(['payment.succeeded', 'payment.refunded']);
    const after = await snapshot(t.db);
    expect((await deliver(refund)).statusCode).toBe(200);
    expect(await snapshot(t.db)).toEqual(after);
  });

  it('refunded within the grace of its period\'s start (API 2025-03 on: the charge names its payment intent only): served until that grace ends', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('invoice.paid', oneOff(owner.tenantId, 'in_refund_early', start, { intent: 'pi_refund_early', shape: 'new' }), start));
    t.clock.set((start + 2 * DAY) * 1000);
    const refund = event('charge.refunded', charge({ intent: 'pi_refund_early', refunded: 4900, full: true }));
    await deliver(refund);
    expect(await outcome(refund)).toMatch(/^applied: payment pay_\w+ refunded in full, 10000 credits taken back, its period ended \(past_due\)$/);
    const token = await signIn(t, owner);
    expect(await decisionCode(t, token)).toBe('OK');
    // Still served, the tenant sees the entry on its own ledger.
    const own = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits/ledger`, token })).json().entries;
    expect(own.filter((e: { kind: string }) => e.kind === 'adjust')).toEqual([expect.objectContaining({ amount: -10000, reason: expect.stringContaining('refunded in full') })]);
    t.clock.set((start + 7 * DAY) * 1000);
    expect(await decisionCode(t, await signIn(t, owner))).toBe('PAYMENT_REQUIRED');
  });

  it('API 2025-03 on, invoice_payment.paid says which payment intent paid an invoice: the refund of its charge, naming only that, finds the payment', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('invoice.paid', oneOff(owner.tenantId, 'in_linked', start), start));
    const paid = await paymentOf(owner);
    const invoicePayment = (invoiceId: string) => ({ id: `inpay_${invoiceId}`, object: 'invoice_payment', invoice: invoiceId, status: 'paid', payment: { type: 'payment_intent', payment_intent: 'pi_linked' } });
    const early = event('invoice_payment.paid', invoicePayment('in_not_yet'));
    await deliver(early);
    expect(await outcome(early)).toBe('ignored: no payment Tollgate recorded for this invoice (an invoice payment delivered before its invoice.paid is not held)');
    const linked = event('invoice_payment.paid', invoicePayment('in_linked'));
    await deliver(linked);
    expect(await outcome(linked)).toBe(`recorded: payment ${paid.id} paid by pi_linked`);
    await deliver(event('charge.refunded', charge({ intent: 'pi_linked', refunded: 4900, full: true })));
    expect(await paymentOf(owner)).toMatchObject({ id: paid.id, status: 'refunded' });
  });

  it('a subscription\'s invoice refunded: its credits taken back, the subscription left to Stripe\'s own events', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('customer.subscription.created', subscription(owner.tenantId, { id: 'sub_refund', status: 'active', start, end: start + MONTH }), start));
    await deliver(event('invoice.paid', { ...invoice(null, { id: 'in_sub_refund', subscription: 'sub_refund', start, end: start + MONTH }), payment_intent: 'pi_sub_refund' }, start));
    const paid = await paymentOf(owner);
    const sub = await subscriptionRow(t, owner.tenantId);
    expect(sub).toMatchObject({ status: 'active', provider_subscription_id: 'sub_refund' });
    const refund = event('charge.refunded', charge({ intent: 'pi_sub_refund', refunded: 4900, full: true }));
    await deliver(refund);
    expect(await outcome(refund)).toBe(`applied: payment ${paid.id} refunded in full, 10000 credits taken back, the provider keeps its subscription`);
    expect(await paymentOf(owner)).toMatchObject({ status: 'refunded', refundedAmount: 4900 });
    expect(await takenBack(owner)).toEqual([expect.objectContaining({ amount: -10000, paymentId: paid.id })]);
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(sub);
  });

  it('a partial refund is recorded (the amount refunded so far) and takes nothing back', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('invoice.paid', oneOff(owner.tenantId, 'in_refund_part', start), start));
    const sub = await subscriptionRow(t, owner.tenantId);
    const entries = await ledger(owner);
    for (const refunded of [1000, 2500]) {
      const refund = event('charge.refunded', charge({ invoice: 'in_refund_part', refunded, full: false }));
      await deliver(refund);
      expect(await outcome(refund)).toBe(`recorded: ${refunded} of 4900 EUR refunded, nothing taken back`);
    }
    expect(await paymentOf(owner)).toMatchObject({ status: 'succeeded', refundedAmount: 2500 });
    expect(await ledger(owner)).toEqual(entries);
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(sub);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
  });

  it('a dispute opened is recorded only; closed as lost, it is a chargeback: refunded, credits taken back, the period ended', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('invoice.paid', oneOff(owner.tenantId, 'in_dispute', start, { intent: 'pi_dispute', shape: 'old' }), start));
    const paid = await paymentOf(owner);
    const dispute = (status: string) => ({ id: 'dp_1', object: 'dispute', amount: 4900, currency: 'eur', charge: 'ch_dispute', payment_intent: 'pi_dispute', status, reason: 'fraudulent' });
    const sub = await subscriptionRow(t, owner.tenantId);
    const entries = await ledger(owner);
    t.clock.advance(1000);
    await deliver(event('charge.dispute.created', dispute('needs_response')));
    expect(await paymentOf(owner)).toMatchObject({ status: 'succeeded', dispute: 'open' });
    expect([await subscriptionRow(t, owner.tenantId), await ledger(owner)]).toEqual([sub, entries]);
    t.clock.set((start + 20 * DAY) * 1000);
    const lost = event('charge.dispute.closed', dispute('lost'));
    await deliver(lost);
    expect(await outcome(lost)).toBe(`applied: payment ${paid.id} charged back: the dispute was lost, 10000 credits taken back, its period ended (past_due)`);
    const token = await signIn(t, owner);
    expect(await paymentOf(owner, token)).toMatchObject({ status: 'refunded', dispute: 'lost', reason: 'charged back: the dispute was lost' });
    expect(await takenBack(owner)).toEqual([expect.objectContaining({ amount: -10000, paymentId: paid.id })]);
    expect(await decisionCode(t, token)).toBe('PAYMENT_REQUIRED');
    expect(await auditActions(t, owner.tenantId, 'payment.')).toEqual(['payment.succeeded', 'payment.dispute_opened', 'payment.refunded']);
  });

  it('credits held by open reservations are not taken back: the balance stays what the holds need, and they still settle', async () => {
    const owner = await t.signup();
    const start = seconds();
    await deliver(event('invoice.paid', oneOff(owner.tenantId, 'in_refund_held', start), start));
    const { available } = await credits(owner, owner.accessToken);
    const held = await t.deps.metering.reserve({ tenantId: owner.tenantId }, { credits: available - 50, idempotencyKey: 'held-over-refund' });
    if (!held.ok) throw new Error('reserve failed');
    const refund = event('charge.refunded', charge({ invoice: 'in_refund_held', refunded: 4900, full: true }));
    await deliver(refund);
    expect(await outcome(refund)).toMatch(/, 50 credits taken back, /);
    expect(await credits(owner, owner.accessToken)).toMatchObject({ available: 0, reserved: available - 50 });
    expect(await t.deps.metering.settle({ tenantId: owner.tenantId }, held.value.reservation.id)).toMatchObject({ ok: true, value: { credits: { balance: 0, reserved: 0 } } });
  });

  it('a refund naming no payment Tollgate recorded is ignored and writes nothing but the event\'s claim', async () => {
    const owner = await t.signup();
    const before = await snapshot(t.db);
    const refund = event('charge.refunded', charge({ invoice: 'in_never_recorded', intent: 'pi_never_recorded', refunded: 4900, full: true, metadata: { tenantId: owner.tenantId } }));
    expect((await deliver(refund)).statusCode).toBe(200);
    expect(await outcome(refund)).toBe('ignored: no payment Tollgate recorded is named (a refund or dispute delivered before its payment is not held)');
    const { provider_events: claims, ...rest } = await snapshot(t.db);
    const { provider_events: claimsBefore, ...restBefore } = before;
    expect(rest).toEqual(restBefore);
    expect(Number(claims!.split(':')[0])).toBe(Number(claimsBefore!.split(':')[0]) + 1);
  });

  it('a refund of another tenant\'s payment touches only that tenant, whatever tenant or customer the charge names', async () => {
    const a = await t.signup();
    const b = await t.signup();
    const start = seconds();
    await deliver(event('invoice.paid', oneOff(a.tenantId, 'in_tenant_a', start), start));
    await deliver(event('invoice.paid', oneOff(b.tenantId, 'in_tenant_b', start), start));
    const ofB = async () => [await subscriptionRow(t, b.tenantId), await paymentOf(b), await ledger(b), await auditActions(t, b.tenantId)];
    const bBefore = await ofB();
    const refund = event('charge.refunded', { ...charge({ invoice: 'in_tenant_a', refunded: 4900, full: true, metadata: { tenantId: b.tenantId } }), customer: 'cus_in_tenant_b' });
    await deliver(refund);
    expect(await ofB()).toEqual(bBefore);
    expect(await paymentOf(a)).toMatchObject({ externalPaymentId: 'in_tenant_a', status: 'refunded' });
  });
});
