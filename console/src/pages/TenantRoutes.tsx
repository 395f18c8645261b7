import { unwrap } from '@tollgate/sdk';
import { useState } from 'react';
import { tg } from '../session';
import type { ProviderRoute } from '../types';
import { ActionForm, CopyButton, Field, Section, StatusBadge, Table, useLoad, when } from '../ui';

type Provider = ProviderRoute['provider'];
/** The mark of a Bedrock route saved before migration 0030: STS gets the External ID it was saved with, alone. */
const LEGACY = 'legacy External ID';

/** Model globs from a comma- or space-separated line; none means the server's default (every model). */
function globs(line: string): string[] | undefined {
  const list = line.split(/[\s,]+/).filter(Boolean);
  return list.length > 0 ? list : undefined;
}

/**
 * Provider routes: the tenant's own Bedrock role or provider key, by name; listed with the
 * secret's last four only (the server never returns a secret), added or replaced, deleted.
 * On a plan without own providers the server's NOT_IN_PLAN shows under the form.
 *
 * A Bedrock role is assumed with the tenant's External ID, which the platform made (the
 * list's `externalId`, since migration 0030): shown for the roles' trust policies. A route's
 * own External ID is optional and only follows it; a route saved before 0030
 * (`legacyExternalId`) sends its own alone until it is saved again.
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
          <TenantExternalId externalId={data.externalId} />
          <LegacyNotice routes={data.routes.filter((r) => r.legacyExternalId)} />
          <Table<ProviderRoute> rows={data.routes} rowKey={(r) => r.name} empty="No provider routes yet." columns={[
            { title: 'Name', cell: (r) => r.name },
            { title: 'Provider', cell: (r) => r.provider },
            { title: 'Region / base URL', cell: (r) => r.region ?? r.baseUrl ?? '—' },
            { title: 'Role ARN', cell: (r) => (r.roleArn ? <code>{r.roleArn}</code> : '—') },
            { title: 'Models', cell: (r) => r.models.join(', ') },
            { title: 'Secret', cell: (r) => (r.secretLastFour === null ? '—' : <code>…{r.secretLastFour}</code>) },
            { title: 'State', cell: (r) => <span className="row"><StatusBadge status={r.enabled ? 'enabled' : 'disabled'} />{r.legacyExternalId ? <StatusBadge status={LEGACY} /> : null}</span> },
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
                ? { provider, region, roleArn, ...(externalId ? { externalId } : {}), ...common }
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
                <Field label="Route's own External ID (optional, appended to yours)"><input name="externalId" autoComplete="off" value={externalId} onChange={(e) => setExternalId(e.target.value)} placeholder="prod" /></Field>
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

/**
 * The tenant's External ID: not a secret (AWS treats none as one), so shown whole. The
 * platform's AWS principal is not in any answer of the server (STS is called with the
 * credentials of its process), so the hint names it without a value.
 */
function TenantExternalId({ externalId }: { externalId: string }) {
  const condition = JSON.stringify({ StringEquals: { 'sts:ExternalId': externalId } }, null, 2);
  return (
    <div className="external-id">
      <p><strong>Your External ID</strong> (Bedrock routes)</p>
      <div className="row"><code data-testid="tenant-external-id">{externalId}</code><CopyButton text={externalId} /></div>
      <p className="muted small">
        Made by the platform, one per tenant, never changed. The trust policy of each role a Bedrock route names must let the
        platform&apos;s AWS principal (whoever runs this Tollgate gives you its ARN) <code>sts:AssumeRole</code> only with it:
      </p>
      <pre>&quot;Condition&quot;: {condition}</pre>
      <p className="muted small">
        A route&apos;s own External ID is optional and is appended: with one, STS gets <code>{externalId}:&lt;the route&apos;s own&gt;</code>,
        and that is what its role&apos;s condition must name.
      </p>
    </div>
  );
}

/** Routes saved before the tenant had its External ID, and how to move them to it without an outage. */
function LegacyNotice({ routes }: { routes: ProviderRoute[] }) {
  if (routes.length === 0) return null;
  return (
    <p className="notice" data-testid="legacy-notice">
      Saved before your External ID existed: {routes.map((r) => r.name).join(', ')}. STS still gets the External ID each was saved
      with, alone. Saving one again (same name) moves it to your External ID: add yours to its role&apos;s <code>sts:ExternalId</code> condition
      first (<code>StringEquals</code> takes a list), then save, then drop the old value.
    </p>
  );
}
