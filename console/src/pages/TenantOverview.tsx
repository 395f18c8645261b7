import { Forbidden, unwrap } from '@tollgate/sdk';
import { tg } from '../session';
import type { CreditBalance, LedgerEntry, Subscription, UsageEvent, UsageView } from '../types';
import { Fields, Section, StatusBadge, Table, useLoad, when, type Loaded } from '../ui';
import { UsageChart, daysFromUsageEvents, emptyDays } from '../usage-chart';
import { CHART_DAYS, chartSince, collectSince } from './pages';

export function SubscriptionFields({ subscription: s }: { subscription: Subscription }) {
  return (
    <Fields fields={[
      ['Status', <StatusBadge key="status" status={s.status} />], ['Plan', s.plan], ['Payment method', s.paymentMethod],
      ['Current period', `${when(s.currentPeriodStart)} → ${when(s.currentPeriodEnd)}`], ['Trial ends', s.trialEndsAt ? when(s.trialEndsAt) : null],
      ['Past due since', s.pastDueSince ? when(s.pastDueSince) : null], ['Cancels at period end', s.cancelAtPeriodEnd ? 'yes' : 'no'],
    ]} />
  );
}

/** A tenant's own overview: the tenant and its subscription, usage in the period and per day, credits. */
export function TenantOverview({ tenantId }: { tenantId: string }) {
  const path = { params: { path: { tenantId } } };
  const tenant = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}', path)), [tenantId]);
  const usage = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/usage', path)), [tenantId]);
  const credits = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/credits', path)), [tenantId]);
  const perDay = useLoad(async () => {
    try {
      return (await unwrap(tg.api.GET('/v1/tenants/{tenantId}/usage/summary', { params: { path: { tenantId }, query: {} } }))).days;
    } catch (error) {
      if (!(error instanceof Forbidden)) throw error;
      // A plain member: the summary is for owners and admins; the usage log is readable by members.
      const events = await collectSince<UsageEvent>(async (cursor) => {
        const page = await unwrap(tg.api.GET('/v1/tenants/{tenantId}/usage/events', { params: { path: { tenantId }, query: { limit: 200, cursor } } }));
        return { items: page.events, nextCursor: page.nextCursor };
      }, chartSince());
      return daysFromUsageEvents(events, emptyDays(CHART_DAYS));
    }
  }, [tenantId]);
  return (
    <>
      <Section title="Tenant" loaded={tenant}>
        {(t) => (
          <>
            <Fields fields={[['Id', <code key="id">{t.id}</code>], ['Status', <StatusBadge key="status" status={t.status} />], ['Plan', t.plan], ['Enterprise', t.enterprise ? 'yes' : 'no'], ['Created', when(t.createdAt)]]} />
            <h3>Subscription</h3>
            {t.subscription ? <SubscriptionFields subscription={t.subscription} /> : <p className="muted">No subscription.</p>}
          </>
        )}
      </Section>
      <Section title="Usage this period" loaded={usage}>
        {(u) => <UsageTable usage={u} />}
      </Section>
      <Section title="Usage per day" loaded={perDay}>
        {(days) => <UsageChart days={days} title={`Runs per meter, per UTC day, last ${days.length} days`} />}
      </Section>
      <Section title="Credits" loaded={credits}>
        {(c) => <CreditFields credits={c} />}
      </Section>
    </>
  );
}

/** The credit balance and the append-only ledger's latest 100 entries, newest first. */
export function TenantCredits({ tenantId }: { tenantId: string }) {
  const credits = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/credits', { params: { path: { tenantId } } })), [tenantId]);
  const ledger = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/credits/ledger', { params: { path: { tenantId }, query: { limit: 100 } } })), [tenantId]);
  return <CreditSections credits={credits} ledger={ledger} />;
}

/** The balance and the ledger, as an owner's and an operator's page show them. */
export function CreditSections({ credits, ledger }: { credits: Loaded<CreditBalance>; ledger: Loaded<{ entries: LedgerEntry[] }> }) {
  return (
    <>
      <Section title="Credits" loaded={credits}>
        {(c) => <CreditFields credits={c} />}
      </Section>
      <Section title="Ledger" loaded={ledger}>
        {(l) => <LedgerTable entries={l.entries} />}
      </Section>
    </>
  );
}

export function LedgerTable({ entries }: { entries: LedgerEntry[] }) {
  return (
    <Table<LedgerEntry> rows={entries} rowKey={(e) => e.id} empty="No ledger entries." columns={[
      { title: 'Time', cell: (e) => when(e.createdAt) },
      { title: 'Kind', cell: (e) => e.kind },
      { title: 'Amount', cell: (e) => (e.amount > 0 ? `+${e.amount}` : e.amount) },
      { title: 'Hold', cell: (e) => e.hold },
      { title: 'Balance after', cell: (e) => e.balanceAfter },
      { title: 'Reason', cell: (e) => e.reason ?? '—' },
    ]} />
  );
}

export function CreditFields({ credits: c }: { credits: CreditBalance }) {
  return <Fields fields={[['Balance', c.balance], ['Reserved', c.reserved], ['Available', c.available]]} />;
}

/** Every meter in the current period: used, limit, what remains. */
export function UsageTable({ usage: u }: { usage: UsageView }) {
  return (
    <>
      <p className="muted">{when(u.periodStart)} → {when(u.periodEnd)} · concurrent runs {u.concurrentRuns.active}{u.concurrentRuns.limit !== null ? ` of ${u.concurrentRuns.limit}` : ''}</p>
      <Table rows={u.usage} rowKey={(m) => m.meter} empty="No meters." columns={[
        { title: 'Meter', cell: (m) => m.meter },
        { title: 'Used', cell: (m) => m.used },
        { title: 'Limit', cell: (m) => m.limit ?? 'unlimited' },
        { title: 'Remaining', cell: (m) => m.remaining ?? '—' },
        { title: '', cell: (m) => (m.limit ? <meter min={0} max={m.limit} value={Math.min(m.used, m.limit)} /> : null) },
        { title: 'Resets', cell: (m) => when(m.resetsAt) },
      ]} />
    </>
  );
}
