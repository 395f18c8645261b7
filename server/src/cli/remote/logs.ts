/** `tollgate usage`, `audit`, `decisions`: what a tenant did and what was decided. */
import { unwrap, type paths } from '@tollgate/sdk';
import { PAGE_OPTIONS, listing, option, required, type Command, type Invocation } from './command.js';
import { UsageError, table, when } from './output.js';

type AuditEntry = paths['/v1/admin/audit']['get']['responses'][200]['content']['application/json']['entries'][number];
type DecisionEntry = paths['/v1/admin/tenants/{tenantId}/decisions']['get']['responses'][200]['content']['application/json']['decisions'][number];

const counts = (record: Record<string, number>): string => Object.entries(record).map(([name, n]) => `${name} ${n}`).join(', ');

async function usage(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  const query = { from: option(call, 'from'), to: option(call, 'to') };
  const summary = await unwrap(call.client().api.GET('/v1/admin/tenants/{tenantId}/usage/summary', { params: { path: { tenantId }, query } }));
  const meters = [...new Set(summary.days.flatMap((day) => Object.keys(day.meters)))].sort();
  call.out.result(summary, () => table(['DATE', ...meters.map((meter) => meter.toUpperCase()), 'CREDITS', 'ALLOWED', 'DENIED'],
    summary.days.map((day) => [day.date, ...meters.map((meter) => day.meters[meter] ?? 0), day.credits, day.allowed, counts(day.denied)])));
}

function auditTable(entries: AuditEntry[]): string {
  return table(['TIME', 'TENANT', 'ACTOR', 'ACTION', 'TARGET', 'REQUEST'], entries.map((entry) => [
    when(entry.createdAt), entry.tenantId, `${entry.actor.type}${entry.actor.id ? ` ${entry.actor.id}` : ''}`, entry.action,
    entry.target ? `${entry.target.type} ${entry.target.id}` : null, entry.requestId,
  ]));
}

function audit(call: Invocation): Promise<void> {
  const tenantId = call.args[0];
  const filter = { action: option(call, 'action'), actorId: option(call, 'actor') };
  return listing(call, 'entries', async (page) => {
    const query = { ...filter, ...page };
    const found = tenantId === undefined
      ? await unwrap(call.client().api.GET('/v1/admin/audit', { params: { query } }))
      : await unwrap(call.client().api.GET('/v1/admin/tenants/{tenantId}/audit', { params: { path: { tenantId }, query } }));
    return { items: found.entries, nextCursor: found.nextCursor };
  }, auditTable);
}

function decisionTable(decisions: DecisionEntry[]): string {
  // CALLS: a denial's entry stands for every denial of its principal, code and minute that one write of the log saw.
  return table(['TIME', 'ALLOWED', 'CODE', 'CALLS', 'OPERATION', 'CREDITS', 'PRINCIPAL', 'BYPASS', 'ID'], decisions.map((decision) => [
    when(decision.createdAt), decision.allowed ? 'yes' : 'no', decision.code, decision.calls, decision.operation, decision.credits,
    `${decision.principal.type} ${decision.principal.userId ?? decision.principal.id ?? ''}`.trim(),
    decision.bypass ? `${decision.bypass.reason} (${decision.bypass.meter})` : null, decision.id,
  ]));
}

function decisions(call: Invocation): Promise<void> {
  const tenantId = required(call, 0, 'TENANT');
  if (call.options.allowed && call.options.denied) throw new UsageError('--allowed or --denied, not both');
  const allowed = call.options.allowed ? true : call.options.denied ? false : undefined;
  return listing(call, 'decisions', async (page) => {
    const found = await unwrap(call.client().api.GET('/v1/admin/tenants/{tenantId}/decisions', { params: { path: { tenantId }, query: { allowed, ...page } } }));
    return { items: found.decisions, nextCursor: found.nextCursor };
  }, decisionTable);
}

export const logCommands: Command[] = [
  {
    words: 'usage',
    synopsis: 'usage TENANT [--from DATE] [--to DATE]',
    summary: 'per UTC day: runs per meter, credits charged, decisions allowed and denied (default: the last 30 days; DATE: YYYY-MM-DD, or an RFC 3339 date-time naming its UTC day)',
    options: { from: { type: 'string' }, to: { type: 'string' } },
    run: usage,
  },
  {
    words: 'audit',
    synopsis: 'audit [TENANT] [--action ACTION] [--actor ID] [--limit N] [--cursor C] [--all]',
    summary: 'a tenant\'s audit log, newest first (without TENANT: the platform-wide entries)',
    options: { action: { type: 'string' }, actor: { type: 'string' }, ...PAGE_OPTIONS },
    run: audit,
  },
  {
    words: 'decisions',
    synopsis: 'decisions TENANT [--allowed | --denied] [--limit N] [--cursor C] [--all]',
    summary: 'a tenant\'s recent decisions, newest first',
    options: { allowed: { type: 'boolean' }, denied: { type: 'boolean' }, ...PAGE_OPTIONS },
    run: decisions,
  },
];
