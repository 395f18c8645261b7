import { unwrap } from '@tollgate/sdk';
import { useState, type ReactNode } from 'react';
import { tg } from '../session';
import type { Webhook, WebhookDelivery, WebhookEvent } from '../types';
import { ActionForm, Field, Section, ShowOnce, StatusBadge, Table, useLoad, when } from '../ui';

const EVENTS: { event: WebhookEvent; says: string }[] = [
  { event: 'limit.threshold', says: 'a meter at 50, 80 or 100 % of its limit' },
  { event: 'credits.low', says: 'available credits below the threshold' },
  { event: 'subscription.updated', says: 'the subscription changed' },
  { event: 'payment.succeeded', says: 'a payment recorded' },
  { event: 'payment.failed', says: 'a payment failed' },
  { event: 'tenant.suspended', says: 'the tenant was suspended' },
  { event: 'api_key.revoked', says: 'an API key was revoked' },
];

/**
 * Webhook endpoints: created with the whsec_ secret shown once, listed, enabled again once
 * disabled, given a new secret (shown once too), deleted; each with its delivery log.
 */
export function TenantWebhooks({ tenantId }: { tenantId: string }) {
  const webhooks = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/webhooks', { params: { path: { tenantId }, query: { limit: 100 } } })), [tenantId]);
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<WebhookEvent[]>([]);
  const [shown, setShown] = useState<{ title: string; secret: string; note?: ReactNode } | null>(null);
  const [rotating, setRotating] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const toggle = (event: WebhookEvent) => setEvents(events.includes(event) ? events.filter((e) => e !== event) : [...events, event]);
  return (
    <>
      <Section title="Webhooks" loaded={webhooks}>
        {(data) => (
          <>
            {shown ? <ShowOnce title={shown.title} secret={shown.secret} onDismiss={() => setShown(null)}>{shown.note}</ShowOnce> : null}
            <ActionForm label="Create webhook" className="action row-form" done={() => { setUrl(''); setDescription(''); setEvents([]); webhooks.reload(); }}
              submit={async () => {
                if (events.length === 0) throw new Error('choose at least one event');
                const created = await unwrap(tg.api.POST('/v1/tenants/{tenantId}/webhooks', {
                  params: { path: { tenantId } }, body: { url, events, ...(description ? { description } : {}) },
                }));
                setShown({ title: `Signing secret of ${created.url}`, secret: created.secret });
              }}>
              <Field label="URL"><input name="webhookUrl" type="url" required value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/hooks/tollgate" /></Field>
              <Field label="Description (optional)"><input name="webhookDescription" maxLength={200} value={description} onChange={(e) => setDescription(e.target.value)} /></Field>
              <fieldset className="scopes">
                <legend>Events</legend>
                {EVENTS.map(({ event, says }) => (
                  <label key={event} title={says}><input type="checkbox" name={`event-${event}`} checked={events.includes(event)} onChange={() => toggle(event)} /> {event}</label>
                ))}
              </fieldset>
            </ActionForm>
            <Table<Webhook> rows={data.webhooks} rowKey={(w) => w.id} empty="No webhooks yet." columns={[
              { title: 'URL', cell: (w) => <code>{w.url}</code> },
              { title: 'Events', cell: (w) => w.events.join(', ') },
              { title: 'Description', cell: (w) => w.description ?? '—' },
              { title: 'Status', cell: (w) => <><StatusBadge status={w.status} />{w.disabledReason ? <span className="muted small"> {w.disabledReason}</span> : null}{w.failingSince ? <span className="muted small"> failing since {when(w.failingSince)}</span> : null}{previousSigns(w) ? <span className="muted small"> previous secret signs too until {when(w.previousSecretExpiresAt)} UTC</span> : null}</> },
              { title: 'Created', cell: (w) => when(w.createdAt) },
              { title: '', cell: (w) => (
                <div className="row">
                  <button type="button" onClick={() => setOpen(open === w.id ? null : w.id)}>{open === w.id ? 'Hide deliveries' : 'Deliveries'}</button>
                  {w.status === 'disabled' ? (
                    <ActionForm label="Enable" className="inline" done={webhooks.reload}
                      submit={() => unwrap(tg.api.POST('/v1/tenants/{tenantId}/webhooks/{id}/enable', { params: { path: { tenantId, id: w.id } } }))} />
                  ) : null}
                  {rotating === w.id ? (
                    <ActionForm label="Rotate secret" className="inline" done={() => { setRotating(null); webhooks.reload(); }}
                      submit={async () => {
                        const rotated = await unwrap(tg.api.POST('/v1/tenants/{tenantId}/webhooks/{id}/rotate-secret', { params: { path: { tenantId, id: w.id } } }));
                        setShown({ title: `New signing secret of ${rotated.url}`, secret: rotated.secret, note: <GraceNote until={rotated.previousSecretExpiresAt} /> });
                      }}>
                      <span className="muted small">A new secret for this endpoint; the current one keeps signing beside it for the server&apos;s grace (a day unless configured otherwise).</span>
                      <button type="button" onClick={() => setRotating(null)}>Cancel</button>
                    </ActionForm>
                  ) : <button type="button" onClick={() => setRotating(w.id)}>Rotate secret…</button>}
                  <ActionForm label="Delete" className="inline" done={() => { if (open === w.id) setOpen(null); webhooks.reload(); }}
                    submit={() => unwrap(tg.api.DELETE('/v1/tenants/{tenantId}/webhooks/{id}', { params: { path: { tenantId, id: w.id } } }))} />
                </div>
              ) },
            ]} />
          </>
        )}
      </Section>
      {open && webhooks.data?.webhooks.some((w) => w.id === open)
        ? <Deliveries tenantId={tenantId} webhook={webhooks.data.webhooks.find((w) => w.id === open)!} />
        : null}
    </>
  );
}

/** Whether deliveries are still signed with the secret a rotation replaced. */
function previousSigns(webhook: Webhook): boolean {
  return webhook.previousSecretExpiresAt !== null && new Date(webhook.previousSecretExpiresAt).getTime() > Date.now();
}

/** How long the secret a rotation replaced keeps signing (webhooks.secretGraceSeconds): the receiver has until then to take the new one. */
function GraceNote({ until }: { until: string | null }) {
  if (until === null) return <p>The previous secret no longer signs deliveries (this server keeps no grace): give the receiver this one now.</p>;
  return <p>The previous secret still signs deliveries, beside this one, until <strong>{when(until)} UTC</strong>: give the receiver this one before then.</p>;
}

/** An endpoint's delivery log, newest first, with a retry for each delivery. */
function Deliveries({ tenantId, webhook }: { tenantId: string; webhook: Webhook }) {
  const deliveries = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/webhooks/{id}/deliveries', {
    params: { path: { tenantId, id: webhook.id }, query: { limit: 100 } },
  })), [tenantId, webhook.id]);
  return (
    <Section title="Deliveries" loaded={deliveries} actions={<button type="button" onClick={deliveries.reload}>Refresh</button>}>
      {(data) => (
        <>
          <p className="muted small">to <code>{webhook.url}</code></p>
          <Table<WebhookDelivery> rows={data.deliveries} rowKey={(d) => d.id} empty="No deliveries yet." columns={[
            { title: 'Event', cell: (d) => d.eventType },
            { title: 'Webhook id', cell: (d) => <code>{d.eventId}</code> },
            { title: 'Status', cell: (d) => <StatusBadge status={d.status} /> },
            { title: 'Attempts', cell: (d) => String(d.attempts) },
            { title: 'Response', cell: (d) => (d.responseStatus === null ? '—' : String(d.responseStatus)) },
            { title: 'Last error', cell: (d) => d.lastError ?? '—' },
            { title: 'Last attempt', cell: (d) => when(d.lastAttemptAt) },
            { title: 'Next attempt', cell: (d) => when(d.nextAttemptAt) },
            { title: 'Created', cell: (d) => when(d.createdAt) },
            { title: '', cell: (d) => (
              <ActionForm label="Retry" className="inline" done={deliveries.reload}
                submit={() => unwrap(tg.api.POST('/v1/tenants/{tenantId}/webhooks/{id}/deliveries/{deliveryId}/retry', {
                  params: { path: { tenantId, id: webhook.id, deliveryId: d.id } },
                }))} />
            ) },
          ]} />
        </>
      )}
    </Section>
  );
}
