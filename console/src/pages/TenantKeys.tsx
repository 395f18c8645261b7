import { unwrap } from '@tollgate/sdk';
import { useState, type ReactNode } from 'react';
import { tg } from '../session';
import type { ApiKey, Scope } from '../types';
import { ActionForm, Field, Section, ShowOnce, StatusBadge, Table, useLoad, when, type Column } from '../ui';

const SCOPES: { scope: Scope; says: string }[] = [
  { scope: 'authorize', says: 'ask for decisions' },
  { scope: 'read', says: 'read what a member may read' },
  { scope: 'manage', says: 'do what an admin may do' },
];

/** API keys: created with the key shown once, listed by prefix and last four, revoked, rotated. */
export function TenantKeys({ tenantId }: { tenantId: string }) {
  const keys = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId } } })), [tenantId]);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['authorize']);
  const [shown, setShown] = useState<{ name: string; key: string } | null>(null);
  const toggle = (scope: Scope) => setScopes(scopes.includes(scope) ? scopes.filter((s) => s !== scope) : [...scopes, scope]);
  return (
    <Section title="API keys" loaded={keys}>
      {(data) => (
        <>
          {shown ? <ShowOnce title={`API key “${shown.name}”`} secret={shown.key} onDismiss={() => setShown(null)} /> : null}
          <ActionForm label="Create key" className="action row-form" done={() => { setName(''); keys.reload(); }}
            submit={async () => {
              if (scopes.length === 0) throw new Error('choose at least one scope');
              const created = await unwrap(tg.api.POST('/v1/tenants/{tenantId}/api-keys', { params: { path: { tenantId } }, body: { name, scopes } }));
              setShown({ name: created.name, key: created.key });
            }}>
            <Field label="Name"><input name="keyName" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} /></Field>
            <fieldset className="scopes">
              <legend>Scopes</legend>
              {SCOPES.map(({ scope, says }) => (
                <label key={scope} title={says}><input type="checkbox" name={`scope-${scope}`} checked={scopes.includes(scope)} onChange={() => toggle(scope)} /> {scope}</label>
              ))}
            </fieldset>
          </ActionForm>
          <KeyTable keys={data.apiKeys} actions={(k) => (k.status === 'active' ? (
              <div className="row">
                <ActionForm label="Rotate" className="inline" done={keys.reload}
                  submit={async () => {
                    const rotated = await unwrap(tg.api.POST('/v1/tenants/{tenantId}/api-keys/{keyId}/rotate', { params: { path: { tenantId, keyId: k.id } }, body: {} }));
                    setShown({ name: rotated.name, key: rotated.key });
                  }} />
                <ActionForm label="Revoke" className="inline" done={keys.reload}
                  submit={() => unwrap(tg.api.DELETE('/v1/tenants/{tenantId}/api-keys/{keyId}', { params: { path: { tenantId, keyId: k.id } } }))} />
              </div>
            ) : null)} />
        </>
      )}
    </Section>
  );
}

/** Keys by name, prefix and last four, scopes, status and use; `actions` adds a last column. */
export function KeyTable({ keys, actions }: { keys: ApiKey[]; actions?: (key: ApiKey) => ReactNode }) {
  const columns: Column<ApiKey>[] = [
    { title: 'Name', cell: (k) => k.name },
    { title: 'Key', cell: (k) => <code>{k.prefix}…{k.lastFour}</code> },
    { title: 'Scopes', cell: (k) => k.scopes.join(', ') },
    { title: 'Status', cell: (k) => <StatusBadge status={k.status} /> },
    { title: 'Last used', cell: (k) => when(k.lastUsedAt) },
    { title: 'Created', cell: (k) => when(k.createdAt) },
  ];
  if (actions) columns.push({ title: '', cell: actions });
  return <Table<ApiKey> rows={keys} rowKey={(k) => k.id} empty="No API keys yet." columns={columns} />;
}
