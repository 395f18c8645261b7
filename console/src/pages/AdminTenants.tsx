import { unwrap } from '@tollgate/sdk';
import { useState, type FormEvent } from 'react';
import { Link, navigate } from '../router';
import { tg } from '../session';
import type { Tenant } from '../types';
import { ErrorBox, Field, StatusBadge, Table, useLoad, when } from '../ui';

const STATUSES = ['', 'active', 'suspended', 'closed'] as const;
const SUBSCRIPTION_STATUSES = ['', 'trialing', 'active', 'past_due', 'pending_payment', 'canceled', 'suspended'] as const;

/** Operators: search tenants by name, id or a member's email, filter by status (`GET /v1/admin/tenants`). */
export function AdminTenants({ query }: { query: URLSearchParams }) {
  const text = query.get('query') ?? '';
  const status = query.get('status') ?? '';
  const subscriptionStatus = query.get('subscriptionStatus') ?? '';
  const cursor = query.get('cursor') ?? undefined;
  const [draft, setDraft] = useState({ text, status, subscriptionStatus });
  const found = useLoad(() => unwrap(tg.api.GET('/v1/admin/tenants', {
    params: {
      query: {
        query: text || undefined, cursor, limit: 50,
        status: (status || undefined) as Exclude<(typeof STATUSES)[number], ''> | undefined,
        subscriptionStatus: (subscriptionStatus || undefined) as Exclude<(typeof SUBSCRIPTION_STATUSES)[number], ''> | undefined,
      },
    },
  })), [text, status, subscriptionStatus, cursor]);

  const search = (event: FormEvent) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (draft.text) next.set('query', draft.text);
    if (draft.status) next.set('status', draft.status);
    if (draft.subscriptionStatus) next.set('subscriptionStatus', draft.subscriptionStatus);
    navigate(`/admin/tenants${next.size ? `?${next}` : ''}`);
  };
  const nextPage = (nextCursor: string) => {
    const next = new URLSearchParams(query);
    next.set('cursor', nextCursor);
    navigate(`/admin/tenants?${next}`);
  };

  return (
    <main>
      <h1>Tenants</h1>
      <form className="filters" onSubmit={search} aria-label="Search tenants">
        <Field label="Name, id or member email"><input name="query" type="search" value={draft.text} onChange={(e) => setDraft({ ...draft, text: e.target.value })} /></Field>
        <Field label="Status">
          <select name="status" value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.target.value })}>
            {STATUSES.map((s) => <option key={s} value={s}>{s || 'any'}</option>)}
          </select>
        </Field>
        <Field label="Subscription">
          <select name="subscriptionStatus" value={draft.subscriptionStatus} onChange={(e) => setDraft({ ...draft, subscriptionStatus: e.target.value })}>
            {SUBSCRIPTION_STATUSES.map((s) => <option key={s} value={s}>{s || 'any'}</option>)}
          </select>
        </Field>
        <button type="submit">Search</button>
      </form>
      <ErrorBox error={found.error} />
      {found.data ? (
        <>
          <Table<Tenant> rows={found.data.tenants} rowKey={(t) => t.id} empty="No tenant matches." columns={[
            { title: 'Name', cell: (t) => <Link to={`/admin/tenants/${t.id}`}>{t.name}</Link> },
            { title: 'Id', cell: (t) => <code>{t.id}</code> },
            { title: 'Status', cell: (t) => <StatusBadge status={t.status} /> },
            { title: 'Plan', cell: (t) => t.plan },
            { title: 'Subscription', cell: (t) => (t.subscription ? <StatusBadge status={t.subscription.status} /> : '—') },
            { title: 'Created', cell: (t) => when(t.createdAt) },
          ]} />
          {found.data.nextCursor ? <button type="button" onClick={() => nextPage(found.data!.nextCursor!)}>Next page</button> : null}
        </>
      ) : null}
    </main>
  );
}
