import { unwrap } from '@tollgate/sdk';
import { useState } from 'react';
import { tg, newIdempotencyKey } from '../session';
import type { AuditEntry, DecisionEntry, Payment, Tenant, TenantUser } from '../types';
import { ActionForm, Field, Fields, Section, StatusBadge, Table, money, useLoad, when } from '../ui';
import { UsageChart } from '../usage-chart';
import { KeyTable } from './TenantKeys';
import { CreditSections, SubscriptionFields, UsageTable } from './TenantOverview';

/** Operators: one tenant — status, plan, subscription and payments, usage, users, decisions, audit — and what an operator does to it. */
export function AdminTenant({ tenantId }: { tenantId: string }) {
  const path = { params: { path: { tenantId } } };
  const tenant = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}', path)), [tenantId]);
  const payments = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/payments', { params: { path: { tenantId }, query: { limit: 50 } } })), [tenantId]);
  const users = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/users', path)), [tenantId]);
  const decisions = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/decisions', { params: { path: { tenantId }, query: { limit: 50 } } })), [tenantId]);
  const audit = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/audit', { params: { path: { tenantId }, query: { limit: 50 } } })), [tenantId]);
  const period = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/usage', path)), [tenantId]);
  const credits = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/credits', path)), [tenantId]);
  const ledger = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/credits/ledger', { params: { path: { tenantId }, query: { limit: 50 } } })), [tenantId]);
  const keys = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/api-keys', path)), [tenantId]);
  const usage = useLoad(async () => (await unwrap(tg.api.GET('/v1/admin/tenants/{tenantId}/usage/summary', { params: { path: { tenantId }, query: {} } }))).days, [tenantId]);
  const [prefill, setPrefill] = useState<Payment | null>(null);

  const changed = () => { tenant.reload(); payments.reload(); audit.reload(); period.reload(); credits.reload(); ledger.reload(); };

  return (
    <main>
      <Section title="Tenant" loaded={tenant}>
        {(t) => (
          <>
            <h1>{t.name} <StatusBadge status={t.status} /></h1>
            <Fields fields={[['Id', <code key="id">{t.id}</code>], ['Kind', t.kind], ['Status', t.status], ['Plan', t.plan], ['Enterprise', t.enterprise ? 'yes' : 'no'], ['Created', when(t.createdAt)]]} />
            <h3>Subscription</h3>
            {t.subscription ? <SubscriptionFields subscription={t.subscription} /> : <p className="muted">No subscription.</p>}
          </>
        )}
      </Section>

      {tenant.data ? <OperatorActions tenant={tenant.data} prefill={prefill} changed={changed} /> : null}

      <Section title="Usage this period" loaded={period}>
        {(u) => <UsageTable usage={u} />}
      </Section>

      <Section title="Usage per day" loaded={usage}>
        {(days) => <UsageChart days={days} title={`Settled runs per meter, per UTC day, last ${days.length} days (credits charged as a line)`} />}
      </Section>

      <CreditSections credits={credits} ledger={ledger} />

      <Section title="Payments" loaded={payments}>
        {(data) => (
          <Table<Payment> rows={data.payments} rowKey={(p) => p.id} empty="No payments." columns={[
            { title: 'Created', cell: (p) => when(p.createdAt) },
            { title: 'Method', cell: (p) => p.method },
            { title: 'Amount', cell: (p) => money(p.amount, p.currency) },
            { title: 'Plan', cell: (p) => `${p.plan} × ${p.periods}` },
            { title: 'Status', cell: (p) => <StatusBadge status={p.status} /> },
            { title: 'Reference', cell: (p) => p.reference ?? p.externalPaymentId ?? '—' },
            { title: 'Period', cell: (p) => (p.periodStart ? `${when(p.periodStart)} → ${when(p.periodEnd)}` : '—') },
            { title: '', cell: (p) => (p.status === 'pending' && p.method === 'bank_transfer'
              ? <PendingPaymentActions tenantId={tenantId} payment={p} onConfirm={() => setPrefill(p)} changed={changed} />
              : null) },
          ]} />
        )}
      </Section>

      <Section title="Users" loaded={users}>
        {(data) => (
          <Table<TenantUser> rows={data.users} rowKey={(u) => u.id} empty="No users." columns={[
            { title: 'Email', cell: (u) => u.email },
            { title: 'Name', cell: (u) => u.name ?? '—' },
            { title: 'Role', cell: (u) => u.role },
            { title: 'Account', cell: (u) => <StatusBadge status={u.status} /> },
            { title: 'Last sign-in', cell: (u) => when(u.lastSignInAt) },
            { title: 'Joined', cell: (u) => when(u.joinedAt) },
          ]} />
        )}
      </Section>

      <Section title="API keys" loaded={keys}>
        {(data) => <KeyTable keys={data.apiKeys} />}
      </Section>

      <Section title="Decisions" loaded={decisions}>
        {(data) => <DecisionTable decisions={data.decisions} />}
      </Section>

      <Section title="Audit" loaded={audit}>
        {(data) => <AuditTable entries={data.entries} />}
      </Section>
    </main>
  );
}

function OperatorActions({ tenant, prefill, changed }: { tenant: Tenant; prefill: Payment | null; changed: () => void }) {
  const tenantId = tenant.id;
  const path = { path: { tenantId } };
  const [days, setDays] = useState('14');
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  // The grant being submitted and its key: a resubmission of the same amount and reason (its answer lost) sends the same key, so
  // the server grants once; a success or other values get a new one.
  const [grant, setGrant] = useState<{ amount: string; reason: string; idempotencyKey: string } | null>(null);
  const [granted, setGranted] = useState<string | null>(null);
  const suspended = tenant.status === 'suspended';
  return (
    <section aria-labelledby="actions" data-section="actions">
      <h2 id="actions">Actions</h2>
      <div className="actions">
        <ActionForm label={suspended ? 'Reactivate' : 'Suspend'} done={changed}
          submit={() => unwrap(tg.api.PATCH('/v1/admin/tenants/{tenantId}', { params: path, body: { status: suspended ? 'active' : 'suspended' } }))}>
          <p className="muted">{suspended ? 'Every credential of the tenant works again.' : 'Every credential of the tenant is refused from its next request.'}</p>
        </ActionForm>

        <ActionForm label="Set trial" done={changed}
          submit={() => unwrap(tg.api.POST('/v1/admin/tenants/{tenantId}/trial', { params: path, body: { days: Number(days) } }))}>
          <Field label="Trial days"><input name="trialDays" type="number" min={1} max={366} required value={days} onChange={(e) => setDays(e.target.value)} /></Field>
        </ActionForm>

        <ActionForm label="End trial now" done={changed}
          submit={() => unwrap(tg.api.POST('/v1/admin/tenants/{tenantId}/trial/reset', { params: path }))}>
          <p className="muted">Suspended until paid on a priced plan, else active.</p>
        </ActionForm>

        <ActionForm label="Adjust credits" done={() => { setAmount(''); setReason(''); setGrant(null); changed(); }}
          submit={async () => {
            const idempotencyKey = grant?.amount === amount && grant.reason === reason ? grant.idempotencyKey : newIdempotencyKey();
            setGrant({ amount, reason, idempotencyKey });
            const answer = await unwrap(tg.api.POST('/v1/admin/tenants/{tenantId}/credits', {
              params: path, body: { amount: Number(amount), reason, idempotencyKey }, idempotent: true,
            }));
            setGranted(`Balance now ${answer.credits.balance} (available ${answer.credits.available}).`);
          }}>
          <Field label="Amount (negative takes credits away)"><input name="creditAmount" type="number" step={1} required value={amount} onChange={(e) => setAmount(e.target.value)} /></Field>
          <Field label="Reason"><input name="creditReason" required maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} /></Field>
          {granted ? <p className="ok" role="status">{granted}</p> : null}
        </ActionForm>

        <BankTransferForm key={prefill?.id ?? 'new'} tenantId={tenantId} prefill={prefill} changed={changed} />
      </div>
    </section>
  );
}

/** Confirm a bank transfer: a new one, or the one a pending payment awaits (its reference and amount filled in). */
function BankTransferForm({ tenantId, prefill, changed }: { tenantId: string; prefill: Payment | null; changed: () => void }) {
  const [form, setForm] = useState({
    externalPaymentId: prefill?.reference ?? '', amount: prefill ? String(prefill.amount) : '', currency: prefill?.currency ?? 'EUR',
    payerName: '', plan: prefill?.plan ?? '', periods: prefill ? String(prefill.periods) : '',
  });
  const [result, setResult] = useState<string | null>(null);
  const set = (name: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [name]: e.target.value });
  return (
    <ActionForm label="Confirm bank transfer" done={changed} className="action wide"
      submit={async () => {
        const answer = await unwrap(tg.api.POST('/v1/admin/tenants/{tenantId}/payments/bank-transfer', {
          params: { path: { tenantId } }, idempotent: true,
          body: {
            externalPaymentId: form.externalPaymentId, amount: Number(form.amount), currency: form.currency.toUpperCase(), payerName: form.payerName,
            ...(form.plan ? { plan: form.plan } : {}), ...(form.periods ? { periods: Number(form.periods) } : {}), ...(prefill ? { paymentId: prefill.id } : {}),
          },
        }));
        setResult(`Payment ${answer.payment.id} recorded${answer.replayed ? ' (already recorded before)' : ''}; subscription ${answer.subscription.status} until ${when(answer.subscription.currentPeriodEnd)}.`);
      }}>
      {prefill ? <p className="muted">For the pending payment {prefill.id} ({prefill.reference}).</p> : null}
      <div className="grid">
        <Field label="Transfer id / reference"><input name="externalPaymentId" required value={form.externalPaymentId} onChange={set('externalPaymentId')} /></Field>
        <Field label="Amount (minor unit, e.g. cents)"><input name="transferAmount" type="number" min={1} required value={form.amount} onChange={set('amount')} /></Field>
        <Field label="Currency"><input name="currency" required pattern="[A-Za-z]{3}" value={form.currency} onChange={set('currency')} /></Field>
        <Field label="Payer name"><input name="payerName" required value={form.payerName} onChange={set('payerName')} /></Field>
        <Field label="Plan (optional)"><input name="transferPlan" value={form.plan} onChange={set('plan')} /></Field>
        <Field label="Periods (optional)"><input name="periods" type="number" min={1} max={36} value={form.periods} onChange={set('periods')} /></Field>
      </div>
      {result ? <p className="ok" role="status">{result}</p> : null}
    </ActionForm>
  );
}

function PendingPaymentActions({ tenantId, payment, onConfirm, changed }: { tenantId: string; payment: Payment; onConfirm: () => void; changed: () => void }) {
  const [reason, setReason] = useState('');
  return (
    <div className="row">
      <button type="button" onClick={onConfirm}>Confirm…</button>
      <ActionForm label="Reject" done={changed} className="inline"
        submit={() => unwrap(tg.api.POST('/v1/admin/tenants/{tenantId}/payments/{paymentId}/reject', {
          params: { path: { tenantId, paymentId: payment.id } }, body: { reason },
        }))}>
        <input name="rejectReason" aria-label="Reason to reject" placeholder="reason" required value={reason} onChange={(e) => setReason(e.target.value)} />
      </ActionForm>
    </div>
  );
}

export function DecisionTable({ decisions }: { decisions: DecisionEntry[] }) {
  return (
    <Table<DecisionEntry> rows={decisions} rowKey={(d) => d.id} empty="No decisions yet." columns={[
      { title: 'Time', cell: (d) => when(d.createdAt) },
      { title: 'Allowed', cell: (d) => (d.allowed ? 'yes' : 'no') },
      { title: 'Code', cell: (d) => <StatusBadge status={d.code} /> },
      // A denial's entry stands for every one of its principal, code and minute the log wrote together.
      { title: 'Calls', cell: (d) => d.calls },
      { title: 'Operation', cell: (d) => d.operation },
      { title: 'Credits', cell: (d) => d.credits ?? '—' },
      { title: 'Principal', cell: (d) => `${d.principal.type} ${d.principal.userId ?? d.principal.id ?? ''}` },
      { title: 'Bypass', cell: (d) => (d.bypass ? `${d.bypass.reason} (${d.bypass.meter})` : '—') },
    ]} />
  );
}

export function AuditTable({ entries }: { entries: AuditEntry[] }) {
  return (
    <Table<AuditEntry> rows={entries} rowKey={(e) => e.id} empty="No audit entries." columns={[
      { title: 'Time', cell: (e) => when(e.createdAt) },
      { title: 'Action', cell: (e) => <code>{e.action}</code> },
      { title: 'Actor', cell: (e) => `${e.actor.type}${e.actor.id ? ` ${e.actor.id}` : ''}` },
      { title: 'Target', cell: (e) => (e.target ? `${e.target.type} ${e.target.id}` : '—') },
      { title: 'Request', cell: (e) => <code>{e.requestId ?? '—'}</code> },
    ]} />
  );
}
