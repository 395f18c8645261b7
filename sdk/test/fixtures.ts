/** Users, tenants and keys made over the HTTP API of the suite's server, as a deployment would. */
import { inject } from 'vitest';
import { Tollgate, unwrap, type TollgateOptions } from '../src/index.js';
import { OPERATOR } from './tollgate-server.js';

export const url = (): string => inject('tollgateUrl');
const PASSWORD = 'a-long-password';
let counter = 0;

export interface Owner { userId: string; tenantId: string; email: string; accessToken: string; refreshToken: string }

/** A client of the suite's server with these options. */
export function client(options: Omit<TollgateOptions, 'baseUrl'> = {}): Tollgate {
  return new Tollgate({ baseUrl: url(), ...options });
}

export async function signup(): Promise<Owner> {
  const email = `user-${process.pid}-${Date.now().toString(36)}-${counter++}@example.com`;
  const me = await unwrap(client().api.POST('/v1/signup', { body: { email, password: PASSWORD } }));
  return { userId: me.user.id, tenantId: me.tenant.id, email, accessToken: me.accessToken, refreshToken: me.refreshToken };
}

export async function apiKey(owner: Owner, scopes: ('authorize' | 'read' | 'manage')[] = ['authorize', 'read']): Promise<string> {
  const created = await unwrap(client({ token: owner.accessToken }).api.POST('/v1/tenants/{tenantId}/api-keys', {
    params: { path: { tenantId: owner.tenantId } }, body: { name: 'backend', scopes },
  }));
  return created.key;
}

/** A client acting as the suite's bootstrap operator. */
export async function operator(): Promise<Tollgate> {
  const grant = await unwrap(client().api.POST('/v1/token', { body: { grantType: 'password', ...OPERATOR } }));
  return client({ token: grant.accessToken });
}

export async function patchTenant(tenantId: string, patch: { plan?: string; status?: 'active' | 'suspended' | 'closed'; limits?: Record<string, number | null> }): Promise<void> {
  await unwrap((await operator()).api.PATCH('/v1/admin/tenants/{tenantId}', { params: { path: { tenantId } }, body: patch }));
}

export async function serviceKey(): Promise<string> {
  return (await unwrap((await operator()).api.POST('/v1/admin/service-keys', { body: { name: `backend-${counter++}` } }))).key;
}
