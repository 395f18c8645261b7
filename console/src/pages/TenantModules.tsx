import { unwrap } from '@tollgate/sdk';
import { tg } from '../session';
import type { ModuleView } from '../types';
import { ActionForm, Section, StatusBadge, Table, useLoad } from '../ui';

/** Module switches: what the plan includes, switched on or off by an owner/admin. */
export function TenantModules({ tenantId }: { tenantId: string }) {
  const modules = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/modules', { params: { path: { tenantId } } })), [tenantId]);
  return (
    <Section title="Modules" loaded={modules}>
      {(data) => (
        <Table<ModuleView> rows={data.modules} rowKey={(m) => m.module} empty="No modules." columns={[
          { title: 'Module', cell: (m) => m.module },
          { title: 'In plan', cell: (m) => (m.inPlan ? 'yes' : 'no') },
          { title: 'State', cell: (m) => <StatusBadge status={m.enabled ? 'enabled' : m.inPlan ? 'switched off' : 'not in plan'} /> },
          { title: '', cell: (m) => (m.inPlan ? (
            <ActionForm label={m.switchedOff ? `Switch ${m.module} on` : `Switch ${m.module} off`} className="inline" done={modules.reload}
              submit={() => unwrap(tg.api.PUT('/v1/tenants/{tenantId}/modules/{module}', { params: { path: { tenantId, module: m.module } }, body: { enabled: m.switchedOff } }))} />
          ) : null) },
        ]} />
      )}
    </Section>
  );
}
