import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { TestApp } from './harness.js';

type Requester = { request(options: InjectOptions & { token?: string }): Promise<LightMyRequestResponse> };

/** The decision's code for a clustering run (POST /v1/authorize) as `token` of its own tenant. */
export async function decisionCode(t: Requester, token: string): Promise<string> {
  const res = await t.request({ method: 'POST', url: '/v1/authorize', token, payload: { operation: 'clustering' } });
  if (res.statusCode !== 200) throw new Error(`authorize answered ${res.statusCode}: ${res.body}`);
  return res.json().code as string;
}

/** Puts a subscription in a state directly (as the database owner), for the cases no route reaches in one step. */
export async function setSubscription(t: TestApp, tenantId: string, fields: Record<string, unknown>): Promise<void> {
  const names = Object.keys(fields);
  const sets = names.map((name, i) => `${name} = $${i + 2}`).join(', ');
  await t.db.asOwner(`UPDATE subscriptions SET ${sets} WHERE tenant_id = $1`, [tenantId, ...names.map((n) => fields[n])]);
  t.deps.changes.forget({ kind: 'tenant', id: tenantId });
}

export async function subscriptionRow(t: TestApp, tenantId: string): Promise<Record<string, unknown>> {
  const [row] = await t.db.asOwner('SELECT * FROM subscriptions WHERE tenant_id = $1', [tenantId]);
  return row!;
}

/** Audit actions written for the tenant, oldest first. */
export async function auditActions(t: TestApp, tenantId: string, prefix = ''): Promise<string[]> {
  const rows = await t.db.asOwner<{ action: string }>('SELECT action FROM audit_log WHERE tenant_id = $1 AND action LIKE $2 ORDER BY created_at, id', [tenantId, `${prefix}%`]);
  return rows.map((r) => r.action);
}

/** A new access token for a user (one issued before the test clock moved on may have expired). */
export async function signIn(t: TestApp, user: { email: string; password: string }): Promise<string> {
  const res = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } });
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  return res.json().accessToken as string;
}
