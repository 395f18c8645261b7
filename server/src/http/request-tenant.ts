import type { FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.js';
import { principalOf } from './guards.js';

const TENANT_ID = /^tnt_[0-9A-Z]{26}$/;

/**
 * The tenant of a request without {tenantId} in its path (API.md): an API key's own
 * tenant, else the `Tollgate-Tenant` header, else the user's personal tenant. Never a
 * body field. Membership is checked afterwards by TenancyService.access.
 */
export async function requestTenantId(request: FastifyRequest, personalTenantOf: (userId: string) => Promise<string | null>): Promise<string> {
  const principal = principalOf(request);
  if (principal.type === 'api_key') return principal.tenantId;
  const header = request.headers['tollgate-tenant'];
  if (typeof header === 'string' && header !== '') {
    if (!TENANT_ID.test(header)) throw new AppError('VALIDATION_FAILED', 'header tollgate-tenant: not a tenant id');
    return header;
  }
  if (principal.type === 'user') {
    const personal = await personalTenantOf(principal.userId);
    if (personal) return personal;
  }
  if (principal.type === 'service' && principal.onBehalfOf) return principal.onBehalfOf.tenantId;
  throw new AppError('TENANT_NOT_FOUND');
}
