import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TypeBoxApp } from '../../http/schemas.js';
import type { FastifyRequest } from 'fastify';
import { ctxOf, requireUser } from '../../http/guards.js';
import { Body, Email, RoleSchema, ShortText, TenantParams, errors, idOf } from '../../http/schemas.js';
import type { InvitationService } from './invitations.js';
import type { TenancyService } from './service.js';
import { InvitationViewSchema, MemberViewSchema, TenantViewSchema, UserViewSchema } from './views.js';
import { accessOf } from '../../http/access-hook.js';

/** A member removing themselves (leaving) needs no admin role. */
function leavesItself(request: FastifyRequest): boolean {
  const userId = (request.params as { userId?: string }).userId;
  return request.principal?.type === 'user' && request.principal.userId === userId;
}

const MemberParams = Type.Object({ tenantId: idOf('tnt'), userId: idOf('usr') });

export const tenancyRoutes: FastifyPluginAsyncTypebox<{ tenancy: TenancyService; invitations: InvitationService }> = async (app, { tenancy, invitations }) => {
  tenantRoutes(app, tenancy);
  invitationRoutes(app, invitations);
};

/** The signed-in user, tenants and their members. */
function tenantRoutes(app: TypeBoxApp, tenancy: TenancyService): void {
  app.get('/v1/me', {
    schema: {
      tags: ['tenancy'], summary: 'The signed-in user and their memberships',
      response: { 200: Type.Object({ user: UserViewSchema, memberships: Type.Array(Type.Object({ tenantId: Type.String(), role: RoleSchema, tenantName: Type.String(), kind: Type.String() })) }), ...errors(401) },
    },
  }, async (request) => tenancy.me(requireUser(request)));

  app.post('/v1/tenants', {
    schema: {
      tags: ['tenancy'], summary: 'Create a team tenant; the caller becomes its owner',
      body: Body({ name: ShortText(200) }),
      response: { 201: TenantViewSchema, ...errors(401, 403) },
    },
  }, async (request, reply) => {
    const user = requireUser(request);
    reply.code(201);
    return tenancy.createTeamTenant(user, request.body.name, ctxOf(request));
  });

  app.get('/v1/tenants/:tenantId', {
    config: { access: 'member' },
    schema: { tags: ['tenancy'], summary: 'A tenant with its status, plan and subscription', params: TenantParams, response: { 200: TenantViewSchema, ...errors(401, 403, 404) } },
  }, async (request) => {
    const access = accessOf(request);
    return tenancy.getTenant(access.tenantId);
  });

  app.get('/v1/tenants/:tenantId/members', {
    config: { access: 'member' },
    schema: { tags: ['tenancy'], summary: 'Members and their roles', params: TenantParams, response: { 200: Type.Object({ members: Type.Array(MemberViewSchema) }), ...errors(401, 403, 404) } },
  }, async (request) => {
    const access = accessOf(request);
    return { members: await tenancy.listMembers(access) };
  });

  app.patch('/v1/tenants/:tenantId/members/:userId', {
    config: { access: 'admin' },
    schema: {
      tags: ['tenancy'], summary: 'Change a member\'s role (owner/admin; the last owner cannot be demoted)',
      params: MemberParams, body: Body({ role: RoleSchema }), response: { 200: MemberViewSchema, ...errors(401, 403, 404, 409) },
    },
  }, async (request) => {
    const access = accessOf(request);
    return tenancy.changeRole(access, request.params.userId, request.body.role, ctxOf(request));
  });

  app.delete('/v1/tenants/:tenantId/members/:userId', {
    config: { access: (request) => (leavesItself(request) ? 'member' : 'admin') },
    schema: {
      tags: ['tenancy'], summary: 'Remove a member (owner/admin), or leave (yourself); the last owner stays',
      params: MemberParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    await tenancy.removeMember(access, request.params.userId, ctxOf(request));
    return reply.code(204).send(null);
  });
}

/** Invitations: made by owners/admins, accepted by the user they were sent to. */
function invitationRoutes(app: TypeBoxApp, invitations: InvitationService): void {
  app.post('/v1/tenants/:tenantId/invitations', {
    config: { access: 'admin' },
    schema: {
      tags: ['tenancy'], summary: 'Invite someone by email; the token is returned this once only',
      params: TenantParams, body: Body({ email: Email, role: RoleSchema }),
      response: { 201: Type.Intersect([InvitationViewSchema, Type.Object({ token: Type.String() })]), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    reply.code(201);
    return invitations.create(access, request.body, ctxOf(request));
  });

  app.get('/v1/tenants/:tenantId/invitations', {
    config: { access: 'admin' },
    schema: { tags: ['tenancy'], summary: 'Open invitations (owner/admin)', params: TenantParams, response: { 200: Type.Object({ invitations: Type.Array(InvitationViewSchema) }), ...errors(401, 403, 404) } },
  }, async (request) => {
    const access = accessOf(request);
    return { invitations: await invitations.list(access) };
  });

  app.delete('/v1/tenants/:tenantId/invitations/:invitationId', {
    config: { access: 'admin' },
    schema: {
      tags: ['tenancy'], summary: 'Revoke an open invitation',
      params: Type.Object({ tenantId: idOf('tnt'), invitationId: idOf('inv') }), response: { 204: Type.Null(), ...errors(401, 403, 404) },
    },
  }, async (request, reply) => {
    const access = accessOf(request);
    await invitations.revoke(access, request.params.invitationId, ctxOf(request));
    return reply.code(204).send(null);
  });

  app.post('/v1/invitations/:token/accept', {
    schema: {
      tags: ['tenancy'], summary: 'Accept an invitation as the signed-in user it was sent to',
      params: Type.Object({ token: Type.String({ pattern: '^tgi_[0-9A-Za-z]{40}$' }) }),
      response: { 200: Type.Object({ tenantId: Type.String(), role: RoleSchema }), ...errors(401, 403, 404, 409) },
    },
  }, async (request) => invitations.accept(requireUser(request), request.params.token, ctxOf(request)));
}
