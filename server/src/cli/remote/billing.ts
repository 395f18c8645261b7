/**
 * `tollgate credits grant`, `trial set|reset`, `payments confirm-bank-transfer`: the
 * operator's money tools. The trial and payment routes are API.md's "Subscriptions and
 * payments"; they are called through `request()` by path until the SDK's generated types
 * include them.
 */
import { unwrap } from '@tollgate/sdk';
import { integer, newIdempotencyKey, option, required, type Command, type Invocation } from './command.js';
import { UsageError, fields, when } from './output.js';

/** A subscription as API.md's `GET /v1/tenants/{tenantId}/subscription` describes it. */
interface Subscription {
  id: string; plan: string; status: string; paymentMethod: string | null; externalPaymentId: string | null;
  currentPeriodStart: string; currentPeriodEnd: string; trialEndsAt: string | null; pastDueSince: string | null; cancelAtPeriodEnd: boolean;
}

interface Payment { id: string; method: string; externalPaymentId: string | null; amount: number; currency: string; status: string; plan: string | null }

function subscriptionFields(tenantId: string, subscription: Subscription): string {
  return fields([
    ['tenant', tenantId], ['subscription', subscription.id], ['status', subscription.status], ['plan', subscription.plan],
    ['trial ends', when(subscription.trialEndsAt)], ['period', `${when(subscription.currentPeriodStart)} → ${when(subscription.currentPeriodEnd)}`],
  ]);
}

/** An amount in the currency's minor unit as people read it: 4900 EUR → 49.00 EUR, 4900 JPY → 4900 JPY. */
function money(amount: number, currency: string): string {
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    // A code Intl does not know: two decimals, the common case.
  }
  return `${(amount / 10 ** digits).toFixed(digits)} ${currency}`;
}

async function grantCredits(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const amount = integer(required(call, 1, 'AMOUNT'), 'AMOUNT');
  if (amount === 0) throw new UsageError('AMOUNT must not be 0');
  const body = { amount, reason: option(call, 'reason', 'required'), idempotencyKey: option(call, 'idempotency-key') ?? newIdempotencyKey() };
  const granted = await unwrap(call.client().api.POST('/v1/admin/tenants/{tenantId}/credits', { params: { path: { tenantId } }, body, idempotent: true }));
  const { balance, reserved, available } = granted.credits;
  call.out.result(granted, () => `${amount > 0 ? 'granted' : 'took'} ${Math.abs(amount)} credits ${amount > 0 ? 'to' : 'from'} ${tenantId}${granted.replayed ? ' (already done: the same idempotency key)' : ''}: balance ${balance}, reserved ${reserved}, available ${available}`);
}

async function setTrial(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const days = integer(option(call, 'days'), '--days');
  const endsAt = option(call, 'ends-at');
  if ((days === undefined) === (endsAt === undefined)) throw new UsageError('give --days N or --ends-at TIME (one of them)');
  const body = days !== undefined ? { days } : { endsAt };
  const subscription = await call.client().request<Subscription>('POST', `/v1/admin/tenants/${encodeURIComponent(tenantId)}/trial`, { body });
  call.out.result(subscription, () => subscriptionFields(tenantId, subscription));
}

async function resetTrial(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const subscription = await call.client().request<Subscription>('POST', `/v1/admin/tenants/${encodeURIComponent(tenantId)}/trial/reset`);
  call.out.result(subscription, () => subscriptionFields(tenantId, subscription));
}

async function confirmBankTransfer(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const body = {
    externalPaymentId: option(call, 'external-payment-id', 'required'),
    amount: integer(option(call, 'amount', 'required'), '--amount'),
    currency: option(call, 'currency', 'required'),
    payerName: option(call, 'payer-name', 'required'),
    proofUrl: option(call, 'proof-url'),
    plan: option(call, 'plan'),
    periods: integer(option(call, 'periods'), '--periods'),
  };
  // The server answers the same externalPaymentId with the same body once, then replays it: safe to send again.
  const confirmed = await call.client().request<{ payment: Payment; subscription: Subscription; replayed?: boolean }>(
    'POST', `/v1/admin/tenants/${encodeURIComponent(tenantId)}/payments/bank-transfer`, { body, idempotent: true });
  call.out.result(confirmed, () => [
    `payment ${confirmed.payment.id}: ${money(confirmed.payment.amount, confirmed.payment.currency)} ${confirmed.payment.status}${confirmed.replayed ? ' (already confirmed)' : ''}`,
    subscriptionFields(tenantId, confirmed.subscription),
  ].join('\n'));
}

export const billingCommands: Command[] = [
  {
    words: 'credits grant',
    synopsis: 'credits grant TENANT AMOUNT --reason TEXT [--idempotency-key KEY]',
    summary: 'grant credits (a negative AMOUNT takes them away), ledgered and audited',
    options: { reason: { type: 'string' }, 'idempotency-key': { type: 'string' } },
    run: grantCredits,
  },
  {
    words: 'trial set',
    synopsis: 'trial set TENANT (--days N | --ends-at TIME)',
    summary: 'put the tenant\'s subscription on a trial until then',
    options: { days: { type: 'string' }, 'ends-at': { type: 'string' } },
    run: setTrial,
  },
  {
    words: 'trial reset',
    synopsis: 'trial reset TENANT',
    summary: 'end the tenant\'s trial now',
    run: resetTrial,
  },
  {
    words: 'payments confirm-bank-transfer',
    synopsis: 'payments confirm-bank-transfer TENANT --external-payment-id ID --amount MINOR_UNITS --currency EUR --payer-name NAME [--proof-url URL] [--plan PLAN] [--periods N]',
    summary: 'record a bank transfer received: the subscription active on a new period, the plan\'s credits granted',
    options: {
      'external-payment-id': { type: 'string' }, amount: { type: 'string' }, currency: { type: 'string' }, 'payer-name': { type: 'string' },
      'proof-url': { type: 'string' }, plan: { type: 'string' }, periods: { type: 'string' },
    },
    run: confirmBankTransfer,
  },
];
