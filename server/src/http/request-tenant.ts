import type { FastifyRequest } from 'fastify';
import { tenantIdOf } from '../lib/tenant-of.js';
import { principalOf } from './guards.js';

/**
 * The tenant of a request without {tenantId} in its path (API.md): see tenantIdOf; the
 * user's choice arrives in the `Tollgate-Tenant` header. Never a body field.
 */
export function requestTenantId(request: FastifyRequest, personalTenantOf: (userId: string) => Promise<string | null>): Promise<string> {
  const header = request.headers['tollgate-tenant'];
  return tenantIdOf(principalOf(request), typeof header === 'string' && header !== '' ? header : undefined, personalTenantOf);
}
