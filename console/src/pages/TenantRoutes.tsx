import { unwrap } from '@tollgate/sdk';
import { useState } from 'react';
import { tg } from '../session';
import type { ProviderRoute } from '../types';
import { ActionForm, Field, Section, StatusBadge, Table, useLoad, when } from '../ui';

type Provider = ProviderRoute['provider'];

/** Model globs from a comma- or space-separated line; none means the server's default (every model). */
function globs(line: string): string[] | undefined {
  const list = line.split(/[\s,]+/).filter(Boolean);
  return list.length > 0 ? list : undefined;
}

/**
 * Provider routes: the tenant's own Bedrock role or provider key, by name; listed with the
 * secret's last four only (the server never returns a secret), added or replaced, deleted.
 * On a plan without own providers the server's NOT_IN_PLAN shows under the form.
 */
export function TenantRoutes({ tenantId }: { tenantId: string }) {
  const routes = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/routes', { params: { path: { tenantId } } })), [tenantId]);
  const [provider, setProvider] = useState<Provider>('bedrock');
  const [name, setName] = useState('');
  const [models, setModels] = useState('');
  const [region, setRegion] = useState('');
  const [roleArn, setRoleArn] = useState('');
  const [externalId, setExternalId] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [baseUrl, setBaseUrl] = useState('');
  const [enabled, setEnabled] = useState(true);
  const clear = () => { setEnabled(true); setName(''); setModels(''); setRegion(''); setRoleArn(''); setExternalId(''); setApiKey(''); setBaseUrl(''); routes.reload(); };
  return (
    <Section title="Provider routes" loaded={routes}>
      {(data) => (
        <>
          <p className="muted small">A call whose model matches an enabled route&apos;s models takes the first such route (oldest first); others run on the platform&apos;s provider. Secrets are sealed on the server: only the last four characters of one of 16 or more are shown.</p>
          <Table<ProviderRoute> rows={data.routes} rowKey={(r) => r.name} empty="No provider routes yet." columns={[
            { title: 'Name', cell: (r) => r.name },
            { title: 'Provider', cell: (r) => r.provider },
            { title: 'Region / base URL', cell: (r) => r.region ?? r.baseUrl ?? '—' },
            { title: 'Role ARN', cell: (r) => (r.roleArn ? <code>{r.roleArn}</code> : '—') },
            { title: 'Models', cell: (r) => r.models.join(', ') },
            { title: 'Secret', cell: (r) => (r.secretLastFour === null ? '—' : <code>…{r.secretLastFour}</code>) },
            { title: 'State', cell: (r) => <StatusBadge status={r.enabled ? 'enabled' : 'disabled'} /> },
            { title: 'Updated', cell: (r) => when(r.updatedAt) },
            { title: '', cell: (r) => (
              <ActionForm label={`Delete ${r.name}`} className="inline" done={routes.reload}
                submit={() => unwrap(tg.api.DELETE('/v1/tenants/{tenantId}/routes/{name}', { params: { path: { tenantId, name: r.name } } }))} />
            ) },
          ]} />
          <h3>Add or replace a route</h3>
          <ActionForm label="Save route" className="action row-form" done={clear}
            submit={() => {
              const path = { tenantId, name };
              const common = { models: globs(models), enabled };
              const body = provider === 'bedrock'
                ? { provider, region, roleArn, externalId, ...common }
                : { provider, apiKey, ...(baseUrl ? { baseUrl } : {}), ...common };
              return unwrap(tg.api.PUT('/v1/tenants/{tenantId}/routes/{name}', { params: { path }, body }));
            }}>
            <Field label="Route name"><input name="routeName" required maxLength={63} pattern="[a-z][a-z0-9_\-]{0,62}" value={name} onChange={(e) => setName(e.target.value)} /></Field>
            <Field label="Provider">
              <select name="provider" value={provider} onChange={(e) => setProvider(e.target.value as Provider)}>
                <option value="bedrock">bedrock (your AWS role)</option>
                <option value="openai">openai (your key)</option>
                <option value="anthropic">anthropic (your key)</option>
              </select>
            </Field>
            <Field label="Models (globs, comma-separated; empty: every model)"><input name="models" value={models} onChange={(e) => setModels(e.target.value)} placeholder="bedrock/claude-*" /></Field>
            {provider === 'bedrock' ? (
              <>
                <Field label="Region"><input name="region" required value={region} onChange={(e) => setRegion(e.target.value)} placeholder="eu-central-1" /></Field>
                <Field label="Role ARN"><input name="roleArn" required value={roleArn} onChange={(e) => setRoleArn(e.target.value)} placeholder="arn:aws:iam::123456789012:role/tollgate" /></Field>
                <Field label="External ID"><input name="externalId" type="password" autoComplete="off" required value={externalId} onChange={(e) => setExternalId(e.target.value)} /></Field>
              </>
            ) : (
              <>
                <Field label="API key"><input name="apiKey" type="password" autoComplete="off" required value={apiKey} onChange={(e) => setApiKey(e.target.value)} /></Field>
                <Field label="Base URL (optional, https)"><input name="baseUrl" type="url" value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} /></Field>
              </>
            )}
            <label><input type="checkbox" name="routeEnabled" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled</label>
          </ActionForm>
        </>
      )}
    </Section>
  );
}
