import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ctxOf } from '../../http/guards.js';
import { Body, errors, idOf, NextCursor, TenantParams } from '../../http/schemas.js';
import type { TenancyAdminService } from './admin.js';
import type { TenancyService } from './service.js';
import { TenantUserSchema, TenantViewSchema, UserViewSchema } from './views.js';
import { PaymentMethodSchema, SubscriptionStatusSchema } from '../billing/index.js';
import { operatorOf } from '../../http/access-hook.js';

const TenantStatusSchema = Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('closed')]);

export interface TenancyAdminRouteOptions {
  admin: TenancyAdminService;
  tenancy: TenancyService;
  /** Returns the operator's user id or throws FORBIDDEN; wired by the composition root. */
}

export const tenancyAdminRoutes: FastifyPluginAsyncTypebox<TenancyAdminRouteOptions> = async (app, { admin, tenancy }) => {
  app.get('/v1/admin/tenants', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Search tenants by name, id or a member\'s email, filter by status, subscription status and payment method',
      querystring: Type.Object({
        query: Type.Optional(Type.String({ maxLength: 200, description: 'a part of the name or of a member\'s email (case-insensitive), or the tenant\'s id' })),
        status: Type.Optional(TenantStatusSchema),
        subscriptionStatus: Type.Optional(SubscriptionStatusSchema),
        paymentMethod: Type.Optional(PaymentMethodSchema),
        cursor: Type.Optional(idOf('tnt')),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ tenants: Type.Array(TenantViewSchema), nextCursor: NextCursor }), ...errors(401, 403) },
    },
  }, async (request) => admin.search({ ...request.query, limit: request.query.limit ?? 50 }));

  app.get('/v1/admin/tenants/:tenantId', {
    config: { access: 'operator' },
    schema: { tags: ['operator'], summary: 'One tenant with its status, plan and subscription (operator)', params: TenantParams, response: { 200: TenantViewSchema, ...errors(401, 403, 404) } },
  }, async (request) => tenancy.getTenant(request.params.tenantId));

  app.get('/v1/admin/tenants/:tenantId/users', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'The tenant\'s users: role, account status, last sign-in',
      params: TenantParams, response: { 200: Type.Object({ users: Type.Array(TenantUserSchema) }), ...errors(401, 403, 404) },
    },
  }, async (request) => ({ users: await admin.users(request.params.tenantId) }));

  app.patch('/v1/admin/tenants/:tenantId', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Set a tenant\'s status, plan, limit overrides or enterprise flag; suspension applies on the next request',
      params: TenantParams,
      body: Body({
        status: Type.Optional(TenantStatusSchema), plan: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        limits: Type.Optional(Type.Record(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$' }), Type.Union([Type.Integer({ minimum: 0, maximum: 1e12 }), Type.Null()]), {
          maxProperties: 32, additionalProperties: false, description: 'per meter (or "concurrentRuns"): a number overrides the plan, null removes the override',
        })),
        enterprise: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'null removes the override' })),
      }),
      response: { 200: TenantViewSchema, ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const operatorId = operatorOf(request);
    return admin.patchTenant(operatorId, request.params.tenantId, request.body, ctxOf(request));
  });

  app.patch('/v1/admin/users/:userId', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Deactivate or reactivate a user; applies on their next request',
      params: Type.Object({ userId: idOf('usr') }),
      body: Body({ status: Type.Union([Type.Literal('active'), Type.Literal('deactivated')]) }),
      response: { 200: UserViewSchema, ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const operatorId = operatorOf(request);
    return admin.setUserStatus(operatorId, request.params.userId, request.body.status, ctxOf(request));
  });
};
