/** `tollgate credits grant`, `trial set|reset`, `payments list|confirm-bank-transfer|reject`: the operator's money tools. */
import { unwrap, type paths } from '@tollgate/sdk';
import { PAGE_OPTIONS, integer, listing, newIdempotencyKey, option, required, type Command, type Invocation } from './command.js';
import { UsageError, fields, table, when } from './output.js';

type Subscription = paths['/v1/admin/tenants/{tenantId}/trial']['post']['responses'][200]['content']['application/json'];
type Payment = paths['/v1/admin/tenants/{tenantId}/payments']['get']['responses'][200]['content']['application/json']['payments'][number];

function subscriptionFields(tenantId: string, subscription: Subscription): string {
  return fields([
    ['tenant', tenantId], ['subscription', subscription.id], ['status', subscription.status], ['plan', subscription.plan],
    ['trial ends', when(subscription.trialEndsAt)], ['period', `${when(subscription.currentPeriodStart)} → ${when(subscription.currentPeriodEnd)}`],
    ['payment method', subscription.paymentMethod],
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
  const body = { ...(days !== undefined ? { days } : { endsAt }), plan: option(call, 'plan') };
  const subscription = await unwrap(call.client().api.POST('/v1/admin/tenants/{tenantId}/trial', { params: { path: { tenantId } }, body }));
  call.out.result(subscription, () => subscriptionFields(tenantId, subscription));
}

async function resetTrial(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const subscription = await unwrap(call.client().api.POST('/v1/admin/tenants/{tenantId}/trial/reset', { params: { path: { tenantId } } }));
  call.out.result(subscription, () => subscriptionFields(tenantId, subscription));
}

function paymentTable(payments: Payment[]): string {
  return table(['ID', 'METHOD', 'STATUS', 'AMOUNT', 'PLAN', 'REFERENCE', 'EXTERNAL ID', 'PAYER', 'CREATED'], payments.map((payment) => [
    payment.id, payment.method, payment.status, money(payment.amount, payment.currency), `${payment.plan}${payment.periods > 1 ? ` ×${payment.periods}` : ''}`,
    payment.reference, payment.externalPaymentId, payment.payerName, when(payment.createdAt),
  ]));
}

function listPayments(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  return listing(call, 'payments', async (page) => {
    const found = await unwrap(call.client().api.GET('/v1/admin/tenants/{tenantId}/payments', { params: { path: { tenantId }, query: page } }));
    return { items: found.payments, nextCursor: found.nextCursor };
  }, paymentTable);
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
    paymentId: option(call, 'payment-id'),
  };
  // The server answers the same externalPaymentId with the same body once, then replays it: safe to send again.
  const confirmed = await unwrap(call.client().api.POST('/v1/admin/tenants/{tenantId}/payments/bank-transfer', { params: { path: { tenantId } }, body, idempotent: true }));
  const { payment } = confirmed;
  call.out.result(confirmed, () => [
    `payment ${payment.id}: ${money(payment.amount, payment.currency)} for ${payment.plan} ${payment.status}${confirmed.replayed ? ' (already confirmed)' : ''}`,
    subscriptionFields(tenantId, confirmed.subscription),
  ].join('\n'));
}

async function rejectPayment(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const paymentId = required(call, 1, 'PAYMENT');
  const rejected = await unwrap(call.client().api.POST('/v1/admin/tenants/{tenantId}/payments/{paymentId}/reject', {
    params: { path: { tenantId, paymentId } }, body: { reason: option(call, 'reason', 'required') },
  }));
  call.out.result(rejected, () => [`payment ${rejected.payment.id}: ${rejected.payment.status}`, subscriptionFields(tenantId, rejected.subscription)].join('\n'));
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
    synopsis: 'trial set TENANT (--days N | --ends-at TIME) [--plan PLAN]',
    summary: 'put the tenant\'s subscription on a trial until then (on PLAN, default its own)',
    options: { days: { type: 'string' }, 'ends-at': { type: 'string' }, plan: { type: 'string' } },
    run: setTrial,
  },
  {
    words: 'trial reset',
    synopsis: 'trial reset TENANT',
    summary: 'end the tenant\'s trial now',
    run: resetTrial,
  },
  {
    words: 'payments list',
    synopsis: 'payments list TENANT [--limit N] [--cursor C] [--all]',
    summary: 'the tenant\'s payments, newest first (a transfer asked for waits as pending, with its reference)',
    options: PAGE_OPTIONS,
    run: listPayments,
  },
  {
    words: 'payments confirm-bank-transfer',
    synopsis: 'payments confirm-bank-transfer TENANT --external-payment-id ID --amount MINOR_UNITS --currency EUR --payer-name NAME [--proof-url URL] [--plan PLAN] [--periods N] [--payment-id PAYMENT]',
    summary: 'record a bank transfer received: the subscription active on a new period, the plan\'s credits granted',
    options: {
      'external-payment-id': { type: 'string' }, amount: { type: 'string' }, currency: { type: 'string' }, 'payer-name': { type: 'string' },
      'proof-url': { type: 'string' }, plan: { type: 'string' }, periods: { type: 'string' }, 'payment-id': { type: 'string' },
    },
    run: confirmBankTransfer,
  },
  {
    words: 'payments reject',
    synopsis: 'payments reject TENANT PAYMENT --reason TEXT',
    summary: 'reject the transfer awaited: the subscription goes back to what it was before it was asked for',
    options: { reason: { type: 'string' } },
    run: rejectPayment,
  },
];
