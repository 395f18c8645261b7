import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Db } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import { errors, NextCursor, Nullable, TenantParams } from '../../http/schemas.js';
import { PLATFORM_TENANT_ID, type AuditService } from './service.js';
import { accessOf } from '../../http/access-hook.js';

const AuditQuery = Type.Object({
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  action: Type.Optional(Type.String({ maxLength: 100 })),
  actorId: Type.Optional(Type.String({ maxLength: 100 })),
}, { additionalProperties: false });

const AuditPage = Type.Object({
  entries: Type.Array(Type.Object({
    id: Type.String(), tenantId: Type.String(),
    actor: Type.Object({ type: Type.String(), id: Nullable(Type.String()) }),
    action: Type.String(),
    target: Nullable(Type.Object({ type: Type.String(), id: Type.String() })),
    data: Type.Record(Type.String(), Type.Unknown()),
    requestId: Nullable(Type.String()),
    createdAt: Type.String(),
  })),
  nextCursor: NextCursor,
});

export interface AuditRouteOptions {
  db: Db;
  audit: AuditService;
}

export const auditRoutes: FastifyPluginAsyncTypebox<AuditRouteOptions> = async (app, { db, audit }) => {
  app.get('/v1/tenants/:tenantId/audit', {
    config: { access: 'admin' },
    schema: {
      tags: ['audit'], summary: 'The tenant\'s audit log, newest first (owner/admin)',
      params: TenantParams, querystring: AuditQuery, response: { 200: AuditPage, ...errors(401, 403, 404) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return inTenant(db, access.tenantId, (tx) => audit.list(tx, { ...request.query, tenantId: access.tenantId, limit: request.query.limit ?? 50 }));
  });

  app.get('/v1/admin/audit', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Platform-wide audit entries (service keys, signing-key rotations, operator actions without a tenant)',
      querystring: AuditQuery, response: { 200: AuditPage, ...errors(401, 403) },
    },
  }, async (request) => inTenant(db, PLATFORM_TENANT_ID, (tx) => audit.list(tx, { ...request.query, tenantId: PLATFORM_TENANT_ID, limit: request.query.limit ?? 50 })));

  app.get('/v1/admin/tenants/:tenantId/audit', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'A tenant\'s audit log (operator)',
      params: TenantParams, querystring: AuditQuery, response: { 200: AuditPage, ...errors(401, 403, 404) },
    },
  }, async (request) => inTenant(db, request.params.tenantId, (tx) => audit.list(tx, { ...request.query, tenantId: request.params.tenantId, limit: request.query.limit ?? 50 })));
};
