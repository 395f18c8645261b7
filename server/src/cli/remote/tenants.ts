/** `tollgate tenants list|show|suspend|reactivate`: the operator's view of tenants. */
import { unwrap, type paths } from '@tollgate/sdk';
import { PAGE_OPTIONS, listing, oneOf, option, required, type Command, type Invocation } from './command.js';
import { fields, table, visible, when } from './output.js';

type TenantView = paths['/v1/admin/tenants/{tenantId}']['get']['responses'][200]['content']['application/json'];
const STATUSES = ['active', 'suspended', 'closed'] as const;

function subscriptionOf(tenant: TenantView): string {
  const subscription = tenant.subscription;
  if (!subscription) return '-';
  return subscription.trialEndsAt && subscription.status === 'trialing' ? `trialing until ${when(subscription.trialEndsAt)}` : subscription.status;
}

function tenantTable(tenants: TenantView[]): string {
  return table(['ID', 'NAME', 'STATUS', 'PLAN', 'SUBSCRIPTION', 'CREATED'],
    tenants.map((tenant) => [tenant.id, tenant.name, tenant.status, tenant.plan, subscriptionOf(tenant), when(tenant.createdAt)]));
}

function tenantFields(tenant: TenantView): string {
  const subscription = tenant.subscription;
  return fields([
    ['id', tenant.id], ['name', tenant.name], ['kind', tenant.kind], ['status', tenant.status], ['plan', tenant.plan],
    ['enterprise', tenant.enterprise], ['created', when(tenant.createdAt)],
    ['subscription', subscription ? `${subscription.status} (${subscription.plan})` : null],
    ['period', subscription ? `${when(subscription.currentPeriodStart)} → ${when(subscription.currentPeriodEnd)}` : null],
    ['trial ends', when(subscription?.trialEndsAt)], ['payment method', subscription?.paymentMethod],
  ]);
}

async function setStatus(call: Invocation, status: 'active' | 'suspended'): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const tenant = await unwrap(call.client().api.PATCH('/v1/admin/tenants/{tenantId}', { params: { path: { tenantId } }, body: { status } }));
  call.out.result(tenant, () => `${tenant.id} (${visible(tenant.name)}) is ${tenant.status}`);
}

export const tenantCommands: Command[] = [
  {
    words: 'tenants list',
    synopsis: 'tenants list [--query TEXT] [--status active|suspended|closed] [--limit N] [--cursor C] [--all]',
    summary: 'search tenants by name, id or a member\'s email, filter by status (oldest first)',
    options: { query: { type: 'string' }, status: { type: 'string' }, ...PAGE_OPTIONS },
    run: (call) => {
      const filter = { query: option(call, 'query'), status: oneOf(option(call, 'status'), STATUSES, '--status') };
      return listing(call, 'tenants', async (page) => {
        const found = await unwrap(call.client().api.GET('/v1/admin/tenants', { params: { query: { ...filter, ...page } } }));
        return { items: found.tenants, nextCursor: found.nextCursor };
      }, tenantTable);
    },
  },
  {
    words: 'tenants show',
    synopsis: 'tenants show TENANT',
    summary: 'a tenant: status, plan, subscription',
    run: async (call) => {
      const tenantId = required(call, 0, 'TENANT');
      const tenant = await unwrap(call.client().api.GET('/v1/admin/tenants/{tenantId}', { params: { path: { tenantId } } }));
      call.out.result(tenant, () => tenantFields(tenant));
    },
  },
  {
    words: 'tenants suspend',
    synopsis: 'tenants suspend TENANT',
    summary: 'suspend a tenant: every credential of it is refused from its next request',
    run: (call) => setStatus(call, 'suspended'),
  },
  {
    words: 'tenants reactivate',
    synopsis: 'tenants reactivate TENANT',
    summary: 'make a suspended tenant active again',
    run: (call) => setStatus(call, 'active'),
  },
];
