import { execFileSync } from 'node:child_process';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionCode, setSubscription, signIn, subscriptionRow } from '../../../test/billing.js';
import { snapshot, startSecondInstance, startTestApp, type SecondInstance, type SignedUp, type TestApp } from '../../../test/harness.js';
import { addMonthUtc } from '../billing/index.js';
import { trustedCertificateUrl } from './paypal.js';

/**
 * PayPal's webhook, verified offline. The test makes its own certificate (openssl) and
 * serves it over loopback; the config's certificateOrigin points the fetch there, while
 * every PAYPAL-CERT-URL still has to be https on a PayPal host.
 */
const WEBHOOK_ID = 'WH1TEST2PAYPAL3ID';
const CERT_PATH = '/v1/notifications/certs/CERT-360caa42-test';
const CERT_URL = `https://api.sandbox.paypal.com${CERT_PATH}`;

let t: TestApp;
/** Decides one transaction per call (group commit off): the decision is checked on both paths. */
let two: SecondInstance;
let dir: string;
let key: KeyObject;
let server: Server;
let fetches = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-paypal-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=messageverificationcerts.paypal.com',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  key = createPrivateKey(readFileSync(join(dir, 'key.pem')));
  const cert = readFileSync(join(dir, 'cert.pem'));
  server = createServer((request, response) => {
    fetches++;
    if (request.url === CERT_PATH) response.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(cert);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await startTestApp({
    patch: (file) => { file.billing.paypal.plans = { 'P-PRO': 'pro' }; file.billing.paypal.certificateOrigin = origin; },
    env: { PAYPAL_WEBHOOK_ID: WEBHOOK_ID },
  });
  two = await startSecondInstance(t, (file) => { file.metering.groupCommit = false; });
});
afterAll(async () => {
  await two.close();
  await t.close();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

let serial = 0;
function event(type: string, resource: Record<string, unknown>, at = t.clock.now()): Record<string, unknown> {
  return { id: `WH-${Date.now().toString(36)}-${serial++}`, event_version: '1.0', create_time: at.toISOString(), resource_type: 'x', event_type: type, resource };
}

/** Signs as PayPal does: transmissionId|transmissionTime|webhookId|crc32(body), SHA256withRSA. */
function headers(body: string, o: { certUrl?: string; webhookId?: string; signedBody?: string; sentAt?: Date; transmissionId?: string } = {}): Record<string, string> {
  const id = o.transmissionId ?? `tx-${serial++}`;
  const time = (o.sentAt ?? t.clock.now()).toISOString();
  const crc = zlib.crc32(Buffer.from(o.signedBody ?? body, 'utf8'));
  const signature = sign('sha256', Buffer.from(`${id}|${time}|${o.webhookId ?? WEBHOOK_ID}|${crc}`), key).toString('base64');
  return {
    'content-type': 'application/json', 'paypal-transmission-id': id, 'paypal-transmission-time': time, 'paypal-transmission-sig': signature,
    'paypal-cert-url': o.certUrl ?? CERT_URL, 'paypal-auth-algo': 'SHA256withRSA',
  };
}

async function deliver(e: Record<string, unknown>, o: Parameters<typeof headers>[1] & { body?: string } = {}) {
  const body = JSON.stringify(e);
  return t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: o.body ?? body, headers: headers(body, o) });
}

function subscription(tenantId: string | null, id: string, at: Date, status = 'ACTIVE'): Record<string, unknown> {
  return { id, plan_id: 'P-PRO', status, custom_id: tenantId ?? undefined, status_update_time: at.toISOString(), update_time: at.toISOString() };
}

function sale(id: string, agreement: string, at: Date, total = '49.00'): Record<string, unknown> {
  return { id, state: 'completed', amount: { total, currency: 'EUR' }, billing_agreement_id: agreement, create_time: at.toISOString(), update_time: at.toISOString() };
}

/**
 * `fill(filler)` with 64 filler characters, each 'a' or 'c' (one bit apart), chosen so
 * that its CRC-32 is `target`: the CRC is affine over GF(2), so flipping filler bits adds
 * known vectors to it, and 64 of them span its 32 bits. What a forger of a PayPal body does.
 */
function withCrc(fill: (filler: string) => string, target: number): string {
  const crc = (filler: string) => zlib.crc32(Buffer.from(fill(filler), 'utf8'));
  const base = 'a'.repeat(64);
  const flipped = (i: number) => `${base.slice(0, i)}c${base.slice(i + 1)}`;
  // Gaussian elimination: rows of (vector, which flips make it), reduced by their top bit.
  const rows: { v: number; flips: bigint }[] = [];
  for (let i = 0; i < 64; i++) {
    let v = (crc(flipped(i)) ^ crc(base)) >>> 0;
    let flips = 1n << BigInt(i);
    for (const r of rows) {
      if ((v ^ r.v) >>> 0 < v) { v = (v ^ r.v) >>> 0; flips ^= r.flips; }
    }
    if (v !== 0) rows.push({ v, flips });
    rows.sort((x, y) => y.v - x.v);
  }
  let want = (target ^ crc(base)) >>> 0;
  let flips = 0n;
  for (const r of rows) {
    if ((want ^ r.v) >>> 0 < want) { want = (want ^ r.v) >>> 0; flips ^= r.flips; }
  }
  if (want !== 0) throw new Error('the filler does not span the CRC');
  const filler = [...base].map((ch, i) => ((flips >> BigInt(i)) & 1n ? 'c' : ch)).join('');
  const body = fill(filler);
  if (zlib.crc32(Buffer.from(body, 'utf8')) !== target) throw new Error('CRC not forced');
  return body;
}

describe('verification', () => {
  let owner: SignedUp;
  beforeAll(async () => { owner = await t.signup(); });

  it('a valid event is accepted; the certificate is fetched once and cached', async () => {
    const before = fetches;
    expect((await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-VALID', t.clock.now())))).json()).toEqual({ received: true });
    expect((await deliver(event('CUSTOMER.DISPUTE.CREATED', { id: 'PP-D-1' }))).statusCode).toBe(200);
    expect(fetches - before).toBeLessThanOrEqual(1);
    // Applied, and held: the tenant is served by its free plan until a sale of I-VALID pays for pro.
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ plan: 'free', status: 'active' });
    expect(await t.db.asOwner('SELECT provider_subscription_id FROM provider_held_states WHERE tenant_id = $1', [owner.tenantId])).toEqual([{ provider_subscription_id: 'I-VALID' }]);
  });

  it('a tampered body, another webhook id, a missing header: 400 WEBHOOK_SIGNATURE_INVALID, nothing written', async () => {
    const e = event('BILLING.SUBSCRIPTION.CANCELLED', subscription(owner.tenantId, 'I-VALID', t.clock.now()));
    const body = JSON.stringify(e);
    const before = await snapshot(t.db);
    const attempts = {
      tampered: await t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: body.replace('CANCELLED', 'SUSPENDED'), headers: headers(body) }),
      'another webhook': await deliver(e, { webhookId: 'WH9SOMEBODY9ELSE' }),
      'no signature': await t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: body, headers: { ...headers(body), 'paypal-transmission-sig': '' } }),
      'another algorithm': await t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: body, headers: { ...headers(body), 'paypal-auth-algo': 'SHA1withRSA' } }),
      // Signed properly, but sent long ago (a recorded delivery replayed) or dated ahead.
      'sent 10 days ago': await deliver(e, { sentAt: new Date(t.clock.now().getTime() - 10 * 86_400_000) }),
      'sent 4 days and a minute ago': await deliver(e, { sentAt: new Date(t.clock.now().getTime() - 4 * 86_400_000 - 60_000) }),
      'dated 6 minutes ahead': await deliver(e, { sentAt: new Date(t.clock.now().getTime() + 6 * 60_000) }),
      'a time that is no time': await t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: body, headers: { ...headers(body), 'paypal-transmission-time': 'yesterday' } }),
    };
    for (const [name, res] of Object.entries(attempts)) expect([name, res.statusCode, res.json().error?.code]).toEqual([name, 400, 'WEBHOOK_SIGNATURE_INVALID']);
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('a delivery sent up to four days ago (PayPal retries over three), or a little ahead of this clock, is accepted', async () => {
    for (const offset of [-3 * 86_400_000, -6 * 60_000, 4 * 60_000]) {
      const e = event('CUSTOMER.DISPUTE.CREATED', { id: `PP-D-${offset}` });
      expect((await deliver(e, { sentAt: new Date(t.clock.now().getTime() + offset) })).statusCode).toBe(200);
    }
  });

  it('a recorded transmission carries its own event only: another body forged to its CRC-32 is refused, nothing written', async () => {
    const victim = await t.signup();
    const forger = await t.signup();
    await setSubscription(t, forger.tenantId, { status: 'suspended', plan: 'pro' });
    const capture = (tenantId: string, id: string, value: string) => ({ id, status: 'COMPLETED', amount: { value, currency_code: 'EUR' }, custom_id: tenantId, create_time: t.clock.now().toISOString() });
    const genuine = JSON.stringify(event('PAYMENT.CAPTURE.COMPLETED', capture(victim.tenantId, 'CAPTURE-GENUINE', '49.00')));
    const recorded = headers(genuine, { transmissionId: 'tx-recorded' });
    expect((await t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: genuine, headers: recorded })).statusCode).toBe(200);
    // The same signed headers, a body of the forger's making with the genuine body's CRC-32.
    const forgery = event('PAYMENT.CAPTURE.COMPLETED', capture(forger.tenantId, 'CAPTURE-FORGED', '49.00'));
    const forged = withCrc((filler) => JSON.stringify({ ...forgery, filler }), zlib.crc32(Buffer.from(genuine, 'utf8')));
    const before = await snapshot(t.db);
    const res = await t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: forged, headers: recorded });
    expect([res.statusCode, res.json().error?.code]).toEqual([400, 'WEBHOOK_SIGNATURE_INVALID']);
    expect(await snapshot(t.db)).toEqual(before);
    expect(await subscriptionRow(t, forger.tenantId)).toMatchObject({ status: 'suspended' });
    // The genuine delivery again (PayPal's retry of the same transmission) is a replay.
    expect((await t.request({ method: 'POST', url: '/v1/webhooks/paypal', payload: genuine, headers: recorded })).json()).toEqual({ received: true });
  });

  it('a certificate URL that is not https on a PayPal host is refused before anything is fetched', async () => {
    const e = event('BILLING.SUBSCRIPTION.CANCELLED', subscription(owner.tenantId, 'I-VALID', t.clock.now()));
    const before = await snapshot(t.db);
    const fetched = fetches;
    for (const certUrl of [
      `https://evil.example.com${CERT_PATH}`, `http://api.paypal.com${CERT_PATH}`, `https://api.paypal.com.evil.example${CERT_PATH}`,
      `https://user:pw@api.paypal.com${CERT_PATH}`, `https://api.paypal.com:8443${CERT_PATH}`, 'not a url',
      'https://www.paypal.com/signin', `https://api.paypal.com${CERT_PATH}?x=1`,
    ]) {
      const res = await deliver(e, { certUrl });
      expect([certUrl, res.statusCode, res.json().error.code]).toEqual([certUrl, 400, 'WEBHOOK_SIGNATURE_INVALID']);
    }
    expect(fetches).toBe(fetched);
    expect(await snapshot(t.db)).toEqual(before);
    expect(trustedCertificateUrl('https://api-m.paypal.com/v1/notifications/certs/CERT-1')?.hostname).toBe('api-m.paypal.com');
  });
});

describe('events', () => {
  it('suspended, then a sale lands: PAYMENT_REQUIRED lifted, the period paid, the grant names the payment; once per event', async () => {
    const owner = await t.signup();
    // Not served by what it has (a served one is held until paid: the tests of the takeover below).
    await setSubscription(t, owner.tenantId, { status: 'canceled', plan: 'pro' });
    const at = t.clock.now();
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-FLOW', at)));
    await deliver(event('BILLING.SUBSCRIPTION.SUSPENDED', subscription(owner.tenantId, 'I-FLOW', new Date(at.getTime() + 1000), 'SUSPENDED')));
    expect([await decisionCode(t, owner.accessToken), await decisionCode(two, owner.accessToken)]).toEqual(['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED']);
    const paid = event('PAYMENT.SALE.COMPLETED', sale('SALE-1', 'I-FLOW', new Date(at.getTime() + 2000)));
    expect((await deliver(paid)).statusCode).toBe(200);
    expect([await decisionCode(two, owner.accessToken), await decisionCode(t, owner.accessToken)]).toEqual(['OK', 'OK']);
    const [payment] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments;
    expect(payment).toMatchObject({ method: 'paypal', externalPaymentId: 'SALE-1', amount: 4900, currency: 'EUR', status: 'succeeded', plan: 'pro' });
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', external_payment_id: 'SALE-1' });
    const before = await snapshot(t.db);
    expect((await deliver(paid)).statusCode).toBe(200);
    expect(await snapshot(t.db)).toEqual(before);
    expect(await t.db.asOwner("SELECT payment_id FROM credit_ledger WHERE tenant_id = $1 AND payment_id IS NOT NULL", [owner.tenantId])).toEqual([{ payment_id: payment.id }]);
  });

  it('a denied sale and a failed subscription payment: past_due, each a failed payment; an older cancellation does not revert a newer activation', async () => {
    const owner = await t.signup();
    const at = t.clock.now();
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-DENY', new Date(at.getTime() + 5000))));
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-DENY-FIRST', 'I-DENY', new Date(at.getTime() + 5000))));
    // Sent before the activation (by PayPal's own time), delivered after it.
    await deliver(event('BILLING.SUBSCRIPTION.CANCELLED', subscription(owner.tenantId, 'I-DENY', at, 'CANCELLED')));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', cancel_at_period_end: false });
    await deliver(event('PAYMENT.SALE.DENIED', sale('SALE-DENIED-1', 'I-DENY', new Date(at.getTime() + 6000))));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'past_due' });
    await deliver(event('BILLING.SUBSCRIPTION.PAYMENT.FAILED', {
      ...subscription(owner.tenantId, 'I-DENY', new Date(at.getTime() + 7000)),
      billing_info: { last_failed_payment: { amount: { value: '49.00', currency_code: 'EUR' }, time: new Date(at.getTime() + 7000).toISOString() } },
    }));
    const payments = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments;
    expect(payments.map((p: { status: string; amount: number }) => [p.status, p.amount]).sort()).toEqual([['failed', 4900], ['failed', 4900], ['succeeded', 4900]]);
  });

  it('a capture short of the plan\'s price, or in another currency, is recorded and activates nothing', async () => {
    const owner = await t.signup();
    await setSubscription(t, owner.tenantId, { status: 'suspended', plan: 'pro' });
    for (const [id, value, currency] of [['CAPTURE-CENT', '0.01', 'EUR'], ['CAPTURE-USD', '49.00', 'USD']]) {
      const capture = { id, status: 'COMPLETED', amount: { value, currency_code: currency }, custom_id: owner.tenantId, create_time: t.clock.now().toISOString() };
      expect((await deliver(event('PAYMENT.CAPTURE.COMPLETED', capture))).statusCode).toBe(200);
    }
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'suspended' });
    const payments = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments;
    expect(payments.map((p: { status: string; amount: number; currency: string }) => [p.status, p.amount, p.currency]).sort()).toEqual([['succeeded', 1, 'EUR'], ['succeeded', 4900, 'USD']]);
    expect(await decisionCode(t, owner.accessToken)).not.toBe('OK');
  });

  it('an activation is no payment: pending_payment until a sale of it covers the plan\'s price; a sale short of it or in another currency is recorded, not applied, before or after the activation', async () => {
    const owner = await t.signup();
    await setSubscription(t, owner.tenantId, { status: 'canceled', plan: 'pro' });
    const at = t.clock.now();
    const after = (ms: number) => new Date(at.getTime() + ms);
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-PRICED', at)));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'pending_payment', plan: 'pro', payment_method: 'paypal', provider_subscription_id: 'I-PRICED' });
    expect(await decisionCode(t, owner.accessToken)).toBe('PAYMENT_REQUIRED');
    // The buyer set the subscription's price (PayPal lets a button override the plan's): a cent short, or dollars.
    const usd = sale('SALE-USD', 'I-PRICED', after(1000));
    (usd.amount as Record<string, string>).currency = 'USD';
    for (const e of [event('PAYMENT.SALE.COMPLETED', sale('SALE-SHORT', 'I-PRICED', after(1000), '48.99')), event('PAYMENT.SALE.COMPLETED', usd)]) {
      expect((await deliver(e)).statusCode).toBe(200);
      expect((await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [e.id]))[0]!.outcome).toMatch(/^recorded, not applied: /);
    }
    const grants = () => t.db.asOwner("SELECT 1 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId]);
    expect(await grants()).toEqual([]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'pending_payment' });
    const reasons = async (o: SignedUp) => ((await t.request({ method: 'GET', url: `/v1/tenants/${o.tenantId}/payments`, token: o.accessToken })).json().payments as { externalPaymentId: string; status: string; reason: string | null }[])
      .map((p) => [p.externalPaymentId, p.status, p.reason]).sort();
    expect(await reasons(owner)).toEqual([
      ['SALE-SHORT', 'succeeded', 'not applied: 4899 EUR does not cover the pro plan\'s price of 4900 EUR'],
      ['SALE-USD', 'succeeded', 'not applied: 4900 USD does not cover the pro plan\'s price of 4900 EUR'],
    ]);
    // The first sale made a second before the activation's time, delivered after it: it pays for the first period all the same.
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-FULL', 'I-PRICED', after(-1000))));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', current_period_start: after(-1000) });
    expect(await grants()).toHaveLength(1);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');

    // A short sale delivered before its activation: still nothing when the activation names the plan.
    const early = await t.signup();
    await setSubscription(t, early.tenantId, { status: 'canceled', plan: 'pro' });
    await deliver(event('PAYMENT.SALE.COMPLETED', { ...sale('SALE-EARLY-SHORT', 'I-EARLY-SHORT', at, '0.01'), custom: early.tenantId }));
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(early.tenantId, 'I-EARLY-SHORT', at)));
    expect(await subscriptionRow(t, early.tenantId)).toMatchObject({ status: 'pending_payment', plan: 'pro' });
    expect(await reasons(early)).toEqual([['SALE-EARLY-SHORT', 'succeeded', 'not applied: 1 EUR does not cover the pro plan\'s price of 4900 EUR']]);
    expect(await t.db.asOwner("SELECT 1 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [early.tenantId])).toEqual([]);
  });

  it('a sale delivered before its subscription\'s activation pays for the plan the activation names, whichever was made first', async () => {
    for (const [name, saleOffset] of [['made after the activation', 2000], ['made before the activation', -2000]] as const) {
      const owner = await t.signup();
      const at = t.clock.now();
      const agreement = `I-EARLY-${saleOffset}`;
      expect((await deliver(event('PAYMENT.SALE.COMPLETED', { ...sale(`SALE-EARLY-${saleOffset}`, agreement, new Date(at.getTime() + saleOffset)), custom: owner.tenantId }))).statusCode).toBe(200);
      expect((await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, agreement, at)))).statusCode).toBe(200);
      expect([name, await subscriptionRow(t, owner.tenantId)]).toMatchObject([name, { status: 'active', plan: 'pro', payment_method: 'paypal', provider_subscription_id: agreement }]);
      const grants = await t.db.asOwner<{ amount: string }>("SELECT amount::text FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId]);
      expect([name, grants]).toEqual([name, [{ amount: '10000' }]]);
      expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    }
  });

  it('a subscription the customer cancels runs to the end of the month it paid for, then the sweeper ends it', async () => {
    const owner = await t.signup();
    const at = t.clock.now();
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-QUIT', at)));
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-QUIT', 'I-QUIT', at)));
    const paid = await subscriptionRow(t, owner.tenantId);
    const cancelled = new Date(at.getTime() + 86_400_000);
    t.clock.set(cancelled.getTime());
    expect((await deliver(event('BILLING.SUBSCRIPTION.CANCELLED', subscription(owner.tenantId, 'I-QUIT', cancelled, 'CANCELLED'), cancelled))).statusCode).toBe(200);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', cancel_at_period_end: true, current_period_end: paid.current_period_end });
    const token = await signIn(t, owner);
    expect(await decisionCode(t, token)).toBe('OK');
    // PayPal sends nothing at the period's end: the sweeper ends it.
    await t.deps.metering.sweep(new Date((paid.current_period_end as Date).getTime() - 1));
    expect((await subscriptionRow(t, owner.tenantId)).status).toBe('active');
    t.clock.set((paid.current_period_end as Date).getTime());
    await t.deps.metering.sweep(t.clock.now());
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'canceled' });
    expect(await decisionCode(t, await signIn(t, owner))).toBe('PAYMENT_REQUIRED');
    // Back within the test certificate's two days, for the tests after this one.
    t.clock.set(cancelled.getTime());
  });

  it('a sale delivered after the cancellation it preceded pays its month and leaves the cancellation standing', async () => {
    const owner = await t.signup();
    const at = t.clock.now();
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-LATE-SALE', at)));
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-FIRST-MONTH', 'I-LATE-SALE', at)));
    // A month on PayPal made the renewal's sale, then the cancellation a minute later; the cancellation arrives first.
    const renewal = new Date(at.getTime() + 30 * 86_400_000);
    await deliver(event('BILLING.SUBSCRIPTION.CANCELLED', subscription(owner.tenantId, 'I-LATE-SALE', new Date(renewal.getTime() + 60_000), 'CANCELLED')));
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-BEFORE-CANCEL', 'I-LATE-SALE', renewal)));
    const row = await subscriptionRow(t, owner.tenantId);
    expect(row).toMatchObject({ status: 'active', cancel_at_period_end: true, current_period_start: renewal });
    // PayPal sends nothing more: the sweeper ends it with the month the sale paid for.
    await t.deps.metering.sweep(row.current_period_end as Date);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'canceled' });
  });

  it('a cancellation and a state made in the same second (PayPal\'s times are whole seconds): the cancellation, PayPal\'s last word, stands whatever the arrival order', async () => {
    const owner = await t.signup();
    const at = new Date(Math.floor(t.clock.now().getTime() / 1000) * 1000);
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-TIE', at)));
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-TIE', 'I-TIE', at)));
    const second = new Date(at.getTime() + 1000);
    await deliver(event('BILLING.SUBSCRIPTION.CANCELLED', subscription(owner.tenantId, 'I-TIE', second, 'CANCELLED')));
    // An activation PayPal made in that second, delivered after the cancellation.
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-TIE', second)));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', cancel_at_period_end: true });
  });

  it('a capture for a tenant named in custom_id activates its plan', async () => {
    const owner = await t.signup();
    await setSubscription(t, owner.tenantId, { status: 'suspended', plan: 'pro' });
    const capture = { id: 'CAPTURE-1', status: 'COMPLETED', amount: { value: '49.00', currency_code: 'EUR' }, custom_id: owner.tenantId, create_time: t.clock.now().toISOString() };
    expect((await deliver(event('PAYMENT.CAPTURE.COMPLETED', capture))).statusCode).toBe(200);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', payment_method: 'paypal', external_payment_id: 'CAPTURE-1' });
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    // A capture names no plan: once the plan is paid up, another one (an order, a top-up) renews nothing.
    const paidUp = await subscriptionRow(t, owner.tenantId);
    const order = { ...capture, id: 'CAPTURE-ORDER', amount: { value: '100.00', currency_code: 'EUR' } };
    expect((await deliver(event('PAYMENT.CAPTURE.COMPLETED', order))).statusCode).toBe(200);
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(paidUp);
    expect(await t.db.asOwner("SELECT 1 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL", [owner.tenantId])).toHaveLength(1);
  });
});

describe('a new subscription takes a served tenant over only once a sale of it covers its price', () => {
  /** A tenant served by a bank transfer's paid period on pro, and its subscription row. */
  async function paidByTransfer(externalPaymentId: string) {
    const owner = await t.signup();
    const op = await t.operator();
    const confirmed = await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/payments/bank-transfer`, token: op.accessToken, payload: { externalPaymentId, amount: 4900, currency: 'EUR', payerName: 'Owner', plan: 'pro' } });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const row = await subscriptionRow(t, owner.tenantId);
    expect(row).toMatchObject({ status: 'active', plan: 'pro', payment_method: 'bank_transfer' });
    return { owner, row };
  }
  const outcome = async (e: Record<string, unknown>) => (await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [e.id]))[0]!.outcome;
  const held = (tenantId: string) => t.db.asOwner<{ provider_subscription_id: string }>('SELECT provider_subscription_id FROM provider_held_states WHERE tenant_id = $1', [tenantId]);
  const paidGrants = (tenantId: string) => t.db.asOwner<{ payment_id: string; amount: string }>("SELECT payment_id, amount::text FROM credit_ledger WHERE tenant_id = $1 AND kind = 'grant' AND payment_id IS NOT NULL ORDER BY payment_id", [tenantId]);

  it('an activation naming a tenant served by a bank transfer, another PayPal subscription or a Stripe one, and never paid: the tenant keeps what it has, the decision stays OK; redelivered, nothing changes', async () => {
    const transfer = await paidByTransfer('BANK-HELD-1');
    const other = await t.signup();
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(other.tenantId, 'I-OWN', t.clock.now())));
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-OWN', 'I-OWN', t.clock.now())));
    const own = { owner: other, row: await subscriptionRow(t, other.tenantId) };
    expect(own.row).toMatchObject({ status: 'active', provider_subscription_id: 'I-OWN' });
    // A period Stripe keeps, paid (this suite has no Stripe secret: put as Stripe's events would leave it).
    const onStripe = await t.signup();
    const now = t.clock.now();
    await setSubscription(t, onStripe.tenantId, {
      status: 'active', plan: 'pro', payment_method: 'stripe', provider_subscription_id: 'sub_paid', provider_updated_at: now,
      current_period_start: now, current_period_end: addMonthUtc(now), provider_period_end: addMonthUtc(now),
    });
    const stripe = { owner: onStripe, row: await subscriptionRow(t, onStripe.tenantId) };
    for (const [name, { owner, row }] of [['bank transfer', transfer], ['PayPal', own], ['Stripe', stripe]] as const) {
      // Anyone can create a PayPal subscription with custom_id = a tenant id and activate it.
      const activation = event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, `I-NAMING-${name}`, new Date(t.clock.now().getTime() + 1000)));
      expect((await deliver(activation)).statusCode).toBe(200);
      expect([name, await outcome(activation)]).toEqual([name, expect.stringMatching(/^held: /)]);
      expect([name, await subscriptionRow(t, owner.tenantId)]).toEqual([name, row]);
      expect([name, await decisionCode(t, owner.accessToken), await decisionCode(two, owner.accessToken)]).toEqual([name, 'OK', 'OK']);
      const view = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/subscription`, token: owner.accessToken })).json();
      expect([name, view]).toMatchObject([name, { status: 'active', plan: 'pro', paymentMethod: row.payment_method }]);
      expect(await held(owner.tenantId)).toEqual([{ provider_subscription_id: `I-NAMING-${name}` }]);
      const before = await snapshot(t.db);
      expect((await deliver(activation)).statusCode).toBe(200);
      expect(await snapshot(t.db)).toEqual(before);
    }
  });

  it('held, then a sale short of the price: still held; then a sale that covers it: the tenant follows the new subscription, active on the sale\'s period with its credits; redelivered, nothing changes', async () => {
    const { owner, row } = await paidByTransfer('BANK-HELD-2');
    const at = t.clock.now();
    const after = (ms: number) => new Date(at.getTime() + ms);
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-TAKEOVER', after(1000))));
    // A sale names its subscription, not the tenant: the state held for the tenant does.
    const short = event('PAYMENT.SALE.COMPLETED', sale('SALE-TAKEOVER-SHORT', 'I-TAKEOVER', after(2000), '48.99'));
    expect((await deliver(short)).statusCode).toBe(200);
    expect(await outcome(short)).toMatch(/^recorded, its subscription still held: /);
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(row);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    const listed = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments as { externalPaymentId: string }[];
    expect(listed.find((p) => p.externalPaymentId === 'SALE-TAKEOVER-SHORT')).toMatchObject({ externalPaymentId: 'SALE-TAKEOVER-SHORT', reason: 'not applied: 4899 EUR does not cover the pro plan\'s price of 4900 EUR' });

    const covering = event('PAYMENT.SALE.COMPLETED', sale('SALE-TAKEOVER', 'I-TAKEOVER', after(3000)));
    expect((await deliver(covering)).statusCode).toBe(200);
    expect(await outcome(covering)).toBe('applied: payment of a subscription held back, which took over (active on it)');
    const taken = await subscriptionRow(t, owner.tenantId);
    expect(taken).toMatchObject({
      status: 'active', plan: 'pro', payment_method: 'paypal', provider_subscription_id: 'I-TAKEOVER', external_payment_id: 'SALE-TAKEOVER',
      current_period_start: after(3000), current_period_end: addMonthUtc(after(3000)),
    });
    const payments = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments as { id: string; externalPaymentId: string }[];
    const sold = payments.find((p) => p.externalPaymentId === 'SALE-TAKEOVER')!;
    const transferred = payments.find((p) => p.externalPaymentId === 'BANK-HELD-2')!;
    expect(await paidGrants(owner.tenantId)).toEqual([{ payment_id: transferred.id, amount: '10000' }, { payment_id: sold.id, amount: '10000' }].sort((x, y) => x.payment_id.localeCompare(y.payment_id)));
    expect(await held(owner.tenantId)).toEqual([]);
    expect([await decisionCode(t, owner.accessToken), await decisionCode(two, owner.accessToken)]).toEqual(['OK', 'OK']);
    const before = await snapshot(t.db);
    for (const e of [covering, short]) expect((await deliver(e)).statusCode).toBe(200);
    expect(await snapshot(t.db)).toEqual(before);
    expect(taken.current_period_end).not.toEqual(row.current_period_end);
  });

  it('a covering sale delivered before the activation: the served tenant switches at once, active on the sale\'s period with its credits', async () => {
    const { owner } = await paidByTransfer('BANK-HELD-3');
    const at = t.clock.now();
    await deliver(event('PAYMENT.SALE.COMPLETED', { ...sale('SALE-FIRST', 'I-SALE-FIRST', at), custom: owner.tenantId }));
    const activation = event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-SALE-FIRST', new Date(at.getTime() + 1000)));
    await deliver(activation);
    expect(await outcome(activation)).toMatch(/^applied: /);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', payment_method: 'paypal', provider_subscription_id: 'I-SALE-FIRST', external_payment_id: 'SALE-FIRST', current_period_start: at });
    expect(await paidGrants(owner.tenantId)).toHaveLength(2);
    expect(await held(owner.tenantId)).toEqual([]);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
  });

  it('a tenant not served by what it has switches at once, pending_payment until paid: canceled, suspended, past due or a period ended beyond the grace', async () => {
    const grace = t.deps.config.file.billing.pastDueGraceSeconds * 1000;
    const now = t.clock.now().getTime();
    const cases: [string, Record<string, unknown> | null][] = [
      ['canceled', { status: 'canceled', plan: 'pro' }],
      ['suspended', { status: 'suspended', plan: 'pro' }],
      ['past due beyond the grace', { status: 'past_due', plan: 'pro', past_due_since: new Date(now - grace - 1000) }],
      ['period ended beyond the grace', { status: 'active', plan: 'pro', payment_method: 'bank_transfer', current_period_start: new Date(now - grace - 40 * 86_400_000), current_period_end: new Date(now - grace - 1000) }],
    ];
    for (const [name, fields] of cases) {
      const owner = await t.signup();
      if (fields) await setSubscription(t, owner.tenantId, fields);
      const id = `I-UNSERVED-${name.replaceAll(' ', '-')}`;
      await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, id, t.clock.now())));
      expect([name, await subscriptionRow(t, owner.tenantId)]).toMatchObject([name, { status: 'pending_payment', plan: 'pro', payment_method: 'paypal', provider_subscription_id: id }]);
      expect(await held(owner.tenantId)).toEqual([]);
    }
  });

  it('a tenant past due within the grace is served: held as well', async () => {
    const owner = await t.signup();
    await setSubscription(t, owner.tenantId, { status: 'past_due', plan: 'pro', past_due_since: new Date(t.clock.now().getTime() - 1000) });
    const before = await subscriptionRow(t, owner.tenantId);
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-GRACE', t.clock.now())));
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(before);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
  });

  it('a tenant on the free plan is served: an activation naming it is held, a covering sale switches it', async () => {
    const owner = await t.signup();
    const before = await subscriptionRow(t, owner.tenantId);
    expect(before).toMatchObject({ plan: 'free', status: 'active' });
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-FREE', t.clock.now())));
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(before);
    expect(await held(owner.tenantId)).toHaveLength(1);
    expect(await decisionCode(t, owner.accessToken)).toBe('OK');
    const at = new Date(t.clock.now().getTime() + 1000);
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-FREE', 'I-FREE', at)));
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'active', plan: 'pro', payment_method: 'paypal', provider_subscription_id: 'I-FREE', current_period_start: at });
    expect(await held(owner.tenantId)).toEqual([]);
  });
});

describe('refunds and reversals', () => {
  const outcome = async (e: Record<string, unknown>) => (await t.db.asOwner<{ outcome: string }>('SELECT outcome FROM provider_events WHERE event_id = $1', [e.id]))[0]!.outcome;
  const paymentOf = async (owner: SignedUp) => (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/payments`, token: owner.accessToken })).json().payments[0];
  const takenBack = (tenantId: string) => t.db.asOwner<{ amount: string; payment_id: string }>("SELECT amount::text, payment_id FROM credit_ledger WHERE tenant_id = $1 AND kind = 'adjust'", [tenantId]);

  it('a capture refunded in full (v2: the refund links up to its capture): refunded, credits taken back, its period ended past due since it began; once per event', async () => {
    const owner = await t.signup();
    await setSubscription(t, owner.tenantId, { status: 'suspended', plan: 'pro' });
    const paidAt = t.clock.now();
    await deliver(event('PAYMENT.CAPTURE.COMPLETED', { id: 'CAPTURE-R1', status: 'COMPLETED', amount: { value: '49.00', currency_code: 'EUR' }, custom_id: owner.tenantId, create_time: paidAt.toISOString() }));
    const paid = await paymentOf(owner);
    const refund = event('PAYMENT.CAPTURE.REFUNDED', {
      id: 'REFUND-R1', status: 'COMPLETED', amount: { value: '49.00', currency_code: 'EUR' },
      seller_payable_breakdown: { total_refunded_amount: { value: '49.00', currency_code: 'EUR' } },
      links: [{ rel: 'self', href: 'https://api.paypal.com/v2/payments/refunds/REFUND-R1' }, { rel: 'up', href: 'https://api.paypal.com/v2/payments/captures/CAPTURE-R1' }],
    });
    expect((await deliver(refund)).statusCode).toBe(200);
    expect(await outcome(refund)).toBe(`applied: payment ${paid.id} refunded in full, 10000 credits taken back, its period ended (past_due)`);
    expect(await paymentOf(owner)).toMatchObject({ status: 'refunded', refundedAmount: 4900 });
    expect(await takenBack(owner.tenantId)).toEqual([{ amount: '-10000', payment_id: paid.id }]);
    expect(await subscriptionRow(t, owner.tenantId)).toMatchObject({ status: 'past_due', past_due_since: paidAt });
    const after = await snapshot(t.db);
    expect((await deliver(refund)).statusCode).toBe(200);
    expect(await snapshot(t.db)).toEqual(after);
  });

  it('a subscription\'s sale: refunded in part, recorded only; reversed (a chargeback), refunded and its credits taken back, the subscription left to PayPal', async () => {
    const owner = await t.signup();
    const at = t.clock.now();
    await deliver(event('BILLING.SUBSCRIPTION.ACTIVATED', subscription(owner.tenantId, 'I-REVERSED', at)));
    await deliver(event('PAYMENT.SALE.COMPLETED', sale('SALE-REVERSED', 'I-REVERSED', new Date(at.getTime() + 1000))));
    const paid = await paymentOf(owner);
    const sub = await subscriptionRow(t, owner.tenantId);
    expect(sub).toMatchObject({ status: 'active' });
    const part = event('PAYMENT.SALE.REFUNDED', { id: 'SALE-REFUND-1', state: 'completed', amount: { total: '10.00', currency: 'EUR' }, sale_id: 'SALE-REVERSED' });
    await deliver(part);
    expect(await outcome(part)).toBe('recorded: 1000 of 4900 EUR refunded, nothing taken back');
    expect(await takenBack(owner.tenantId)).toEqual([]);
    const reversed = event('PAYMENT.SALE.REVERSED', { id: 'SALE-REVERSAL-1', state: 'completed', amount: { total: '-39.00', currency: 'EUR' }, sale_id: 'SALE-REVERSED', reason_code: 'CHARGEBACK' });
    await deliver(reversed);
    expect(await outcome(reversed)).toBe(`applied: payment ${paid.id} reversed: a chargeback, 10000 credits taken back, the provider keeps its subscription`);
    expect(await paymentOf(owner)).toMatchObject({ status: 'refunded', refundedAmount: 1000, dispute: 'lost' });
    expect(await takenBack(owner.tenantId)).toEqual([{ amount: '-10000', payment_id: paid.id }]);
    expect(await subscriptionRow(t, owner.tenantId)).toEqual(sub);
  });
});
