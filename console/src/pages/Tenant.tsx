import { unwrap } from '@tollgate/sdk';
import { Link } from '../router';
import { tg } from '../session';
import type { Me } from '../types';
import { Section, useLoad } from '../ui';
import { AuditTable } from './AdminTenant';
import { TenantKeys } from './TenantKeys';
import { TenantMembers } from './TenantMembers';
import { TenantModules } from './TenantModules';
import { TenantRoutes } from './TenantRoutes';
import { TenantCredits, TenantOverview } from './TenantOverview';
import { TenantWebhooks } from './TenantWebhooks';

const TABS = [
  { tab: 'overview', title: 'Usage & overview' },
  { tab: 'members', title: 'Members' },
  { tab: 'api-keys', title: 'API keys' },
  { tab: 'modules', title: 'Modules' },
  { tab: 'routes', title: 'Provider routes' },
  { tab: 'webhooks', title: 'Webhooks' },
  { tab: 'credits', title: 'Credits' },
  { tab: 'audit', title: 'Audit' },
] as const;

export type TenantTab = (typeof TABS)[number]['tab'];

export function isTenantTab(tab: string): tab is TenantTab {
  return TABS.some((t) => t.tab === tab);
}

/** A tenant as its owners and admins manage it, one tab at a time. */
export function Tenant({ me, tenantId, tab }: { me: Me; tenantId: string; tab: TenantTab }) {
  const membership = me.memberships.find((m) => m.tenantId === tenantId);
  return (
    <main>
      <h1>{membership?.tenantName ?? tenantId} <span className="muted small">{membership ? `you are ${membership.role}` : ''}</span></h1>
      <nav className="tabs" aria-label="Tenant">
        {TABS.map((t) => <Link key={t.tab} to={`/tenants/${tenantId}/${t.tab}`} className={t.tab === tab ? 'active' : undefined}>{t.title}</Link>)}
      </nav>
      {tab === 'overview' ? <TenantOverview tenantId={tenantId} /> : null}
      {tab === 'members' ? <TenantMembers tenantId={tenantId} userId={me.user.id} /> : null}
      {tab === 'api-keys' ? <TenantKeys tenantId={tenantId} /> : null}
      {tab === 'modules' ? <TenantModules tenantId={tenantId} /> : null}
      {tab === 'routes' ? <TenantRoutes tenantId={tenantId} /> : null}
      {tab === 'webhooks' ? <TenantWebhooks tenantId={tenantId} /> : null}
      {tab === 'credits' ? <TenantCredits tenantId={tenantId} /> : null}
      {tab === 'audit' ? <TenantAudit tenantId={tenantId} /> : null}
    </main>
  );
}

function TenantAudit({ tenantId }: { tenantId: string }) {
  const audit = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/audit', { params: { path: { tenantId }, query: { limit: 100 } } })), [tenantId]);
  return <Section title="Audit" loaded={audit}>{(data) => <AuditTable entries={data.entries} />}</Section>;
}
