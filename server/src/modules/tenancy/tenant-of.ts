import { AppError } from '../../lib/errors.js';
import type { Principal } from '../../lib/principal.js';

const TENANT_ID = /^tnt_[0-9A-Z]{26}$/;

/**
 * The tenant a request acts in, from the verified credential (API.md): an API key's own
 * tenant, a service key's on-behalf-of tenant, else for a user the tenant they chose
 * (path, `Tollgate-Tenant` header or the decision's `tenantId`), else their personal
 * tenant. A key naming another tenant than its own gets the 404 of a missing one.
 * Membership is checked afterwards by the tenant check.
 */
export async function tenantIdOf(
  principal: Principal,
  chosen: string | undefined,
  personalTenantOf: (userId: string) => Promise<string | null | undefined>,
): Promise<string> {
  if (chosen !== undefined && !TENANT_ID.test(chosen)) throw new AppError('VALIDATION_FAILED', 'tenant: not a tenant id');
  if (principal.type === 'api_key') {
    if (chosen !== undefined && chosen !== principal.tenantId) throw new AppError('TENANT_NOT_FOUND');
    return principal.tenantId;
  }
  if (principal.type === 'service') {
    const acting = principal.onBehalfOf;
    if (!acting) throw new AppError('ON_BEHALF_OF_REQUIRED');
    if (chosen !== undefined && chosen !== acting.tenantId) throw new AppError('TENANT_NOT_FOUND');
    return acting.tenantId;
  }
  if (chosen !== undefined) return chosen;
  const personal = await personalTenantOf(principal.userId);
  if (!personal) throw new AppError('TENANT_NOT_FOUND');
  return personal;
}
