import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal, TenantAccess } from '../lib/principal.js';
import { principalOf } from './guards.js';
import { routeOf } from './route-of.js';

/** The least a caller must be: a member of the path's tenant with at least this role, or an operator. */
export type AccessNeed = 'member' | 'admin' | 'owner' | 'operator';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's standing in the path's tenant, once the access hook checked it. */
    access: TenantAccess | null;
    /** The operator's user id, once the access hook checked it. */
    operatorId: string | null;
  }
  interface FastifyContextConfig {
    /**
     * Who may call the route, checked once by the access hook after validation and before
     * the handler; a function when the need depends on the request (leaving a tenant).
     */
    access?: AccessNeed | ((request: FastifyRequest) => AccessNeed);
    /**
     * The route serves a tenant whose subscription requires payment (the billing routes:
     * its owner must see what is due and pay it); a suspended or closed tenant still not.
     */
    whileUnpaid?: boolean;
  }
}

/** The checks behind the access hook (tenancy's tenant check, auth's operator check). */
export interface AccessChecks {
  tenant(principal: Principal, tenantId: string, need: Exclude<AccessNeed, 'operator'>, options: { whileUnpaid?: boolean }): Promise<TenantAccess>;
  operator(principal: Principal): Promise<string>;
  tenantExists(tenantId: string): Promise<void>;
}

/**
 * Runs a route's `config.access` check before its handler: for a tenant role, the shared
 * tenant check on the `{tenantId}` of the path (another tenant's is the 404 of a missing
 * one); for an operator, the operator flag, and that the path's tenant exists.
 */
export function registerAccessHook(app: FastifyInstance, checks: AccessChecks): void {
  app.decorateRequest('access', null);
  app.decorateRequest('operatorId', null);
  app.addHook('preHandler', async (request) => {
    const route = routeOf(request);
    const config = route.config.access;
    if (config === undefined) return;
    const need = typeof config === 'function' ? config(request) : config;
    const tenantId = (request.params as { tenantId?: string } | undefined)?.tenantId;
    if (need === 'operator') {
      request.operatorId = await checks.operator(principalOf(request));
      if (tenantId !== undefined) await checks.tenantExists(tenantId);
      return;
    }
    if (tenantId === undefined) throw new Error(`route ${route.url} checks a tenant role but has no {tenantId}`);
    request.access = await checks.tenant(principalOf(request), tenantId, need, { whileUnpaid: route.config.whileUnpaid === true });
  });
}

/** The tenant access the hook checked; a route without `config.access` has none. */
export function accessOf(request: FastifyRequest): TenantAccess {
  if (!request.access) throw new Error(`route ${routeOf(request).url} reads tenant access without config.access`);
  return request.access;
}

/** The operator the hook checked. */
export function operatorOf(request: FastifyRequest): string {
  if (!request.operatorId) throw new Error(`route ${routeOf(request).url} reads the operator without config.access: 'operator'`);
  return request.operatorId;
}
