/** The operator's money commands (trial, bank transfers), run as real processes against a real server with the billing routes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperatorCli, type OperatorCli } from '../../../test/cli-process.js';
import type { SignedUp, TestApp } from '../../../test/harness.js';

let cli: OperatorCli;
let t: TestApp;

beforeAll(async () => {
  cli = await startOperatorCli();
  t = cli.t;
});
afterAll(async () => { await cli.close(); });

const tollgate = (...args: string[]) => cli.tollgate(...args);
const json = <T = Record<string, unknown>>(...args: string[]) => cli.json<T>(...args);

async function decide(owner: SignedUp): Promise<string> {
  const res = await t.request({ method: 'POST', url: '/v1/authorize', token: owner.accessToken, payload: { operation: 'clustering' } });
  return res.json().code;
}

/** The owner asks to pay for `plan` by bank transfer: the subscription waits in pending_payment. */
async function askForTransfer(owner: SignedUp, plan = 'pro'): Promise<{ paymentId: string; reference: string }> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/bank-transfer`, token: owner.accessToken, payload: { plan } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

describe('tollgate trial', () => {
  it('set puts the subscription on a trial for days, on a plan; reset ends it now', async () => {
    const owner = await t.signup();
    const endsAt = new Date(t.clock.now().getTime() + 14 * 86_400_000).toISOString();

    const set = await tollgate('trial', 'set', owner.tenantId, '--days', '14', '--plan', 'pro');
    const shown = await tollgate('tenants', 'show', owner.tenantId);
    const reset = await json<{ status: string; trialEndsAt: string }>('trial', 'reset', owner.tenantId);

    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/status:\s+trialing\n/);
    expect(set.stdout).toMatch(new RegExp(`trial ends:\\s+${endsAt.replace('T', ' ').replace(/\.\d+Z$/, '')}`));
    expect(shown.stdout).toMatch(/subscription:\s+trialing \(pro\)/);
    // pro has a price: a trial that ends unpaid suspends the subscription, and the decision says so.
    expect(reset).toMatchObject({ status: 'suspended', trialEndsAt: t.clock.now().toISOString() });
    expect(await decide(owner)).toBe('PAYMENT_REQUIRED');
  });

  it('--ends-at sets the end; both or neither of --days and --ends-at is a usage error', async () => {
    const owner = await t.signup();
    const endsAt = new Date(t.clock.now().getTime() + 3 * 86_400_000).toISOString();

    expect(await json('trial', 'set', owner.tenantId, '--ends-at', endsAt)).toMatchObject({ status: 'trialing', trialEndsAt: endsAt });
    expect((await tollgate('trial', 'set', owner.tenantId, '--days', '3', '--ends-at', endsAt)).code).toBe(2);
    expect((await tollgate('trial', 'set', owner.tenantId)).code).toBe(2);
  });
});

describe('tollgate payments', () => {
  it('confirm-bank-transfer records the transfer: the subscription active on the plan, its credits granted; again, the same answer', async () => {
    const owner = await t.signup();
    const asked = await askForTransfer(owner);
    expect(await decide(owner)).toBe('PAYMENT_REQUIRED');

    const pending = await tollgate('payments', 'list', owner.tenantId);
    const args = ['payments', 'confirm-bank-transfer', owner.tenantId, '--external-payment-id', `BANK-${owner.tenantId}`, '--amount', '4900',
      '--currency', 'EUR', '--payer-name', 'Acme GmbH', '--payment-id', asked.paymentId];
    const confirmed = await tollgate(...args);
    const again = await json<{ replayed: boolean; payment: { id: string } }>(...args);

    expect(pending.stdout).toMatch(new RegExp(`${asked.paymentId}\\s+bank_transfer\\s+pending\\s+49\\.00 EUR\\s+pro\\s+${asked.reference}`));
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toMatch(new RegExp(`^payment ${asked.paymentId}: 49\\.00 EUR for pro succeeded\\n`));
    expect(confirmed.stdout).toMatch(/status:\s+active\n/);
    expect(again).toMatchObject({ replayed: true, payment: { id: asked.paymentId } });
    expect(await decide(owner)).toBe('OK');
    const credits = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json();
    expect(credits.balance).toBe(10_100); // the free plan's 100, and pro's 10,000 granted against the payment
  });

  it('a transfer short of the price is refused (exit 1, PAYMENT_AMOUNT_MISMATCH) and changes nothing', async () => {
    const owner = await t.signup();
    await askForTransfer(owner);

    const short = await tollgate('payments', 'confirm-bank-transfer', owner.tenantId, '--external-payment-id', `SHORT-${owner.tenantId}`,
      '--amount', '100', '--currency', 'EUR', '--payer-name', 'Acme GmbH');

    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/PAYMENT_AMOUNT_MISMATCH/);
    expect(await decide(owner)).toBe('PAYMENT_REQUIRED');
  });

  it('reject turns the transfer asked for down: the subscription is back to what it was', async () => {
    const owner = await t.signup();
    const asked = await askForTransfer(owner);

    const rejected = await tollgate('payments', 'reject', owner.tenantId, asked.paymentId, '--reason', 'nothing arrived');
    const payments = await json<{ payments: { id: string; status: string; reason: string }[] }>('payments', 'list', owner.tenantId);

    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.stdout).toMatch(/status:\s+active\n/);
    expect(payments.payments).toEqual([expect.objectContaining({ id: asked.paymentId, status: 'rejected', reason: 'nothing arrived' })]);
    expect(await decide(owner)).toBe('OK');
  });
});
