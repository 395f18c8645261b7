import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ctxOf } from '../../http/guards.js';
import { Body, Email, Password, errors } from '../../http/schemas.js';
import { TenantViewSchema, UserViewSchema } from '../tenancy/index.js';
import { PLATFORM_TENANT_ID, type AuditService } from '../audit/index.js';
import type { SigningKeyRing } from './keys.js';
import type { AuthService } from './service.js';
import { operatorOf } from '../../http/access-hook.js';

const TokenPairSchema = Type.Object({
  accessToken: Type.String(), refreshToken: Type.String(), tokenType: Type.Literal('Bearer'), expiresIn: Type.Integer(),
});

export interface AuthRouteOptions {
  auth: AuthService;
  keys: SigningKeyRing;
  audit: AuditService;
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthRouteOptions> = async (app, { auth, keys, audit }) => {
  app.post('/v1/signup', {
    config: { auth: 'public', rateLimit: 'auth' },
    schema: {
      tags: ['auth'], summary: 'Create a user, their personal tenant (as owner) and a subscription on the default plan, in one transaction',
      body: Body({ email: Email, password: Password, name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
      response: { 201: Type.Intersect([Type.Object({ user: UserViewSchema, tenant: TenantViewSchema }), TokenPairSchema]), ...errors(409) },
    },
  }, async (request, reply) => {
    reply.code(201);
    return auth.signup(request.body, ctxOf(request));
  });

  app.post('/v1/token', {
    config: { auth: 'public', rateLimit: 'auth' },
    schema: {
      tags: ['auth'], summary: 'Password grant or refresh-token grant (refresh tokens are single-use)',
      body: Type.Union([
        Body({ grantType: Type.Literal('password'), email: Email, password: Password }),
        Body({ grantType: Type.Literal('refresh_token'), refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }),
      ]),
      response: { 200: TokenPairSchema, ...errors(401, 403) },
    },
  }, async (request) => {
    const body = request.body;
    return body.grantType === 'password' ? auth.passwordGrant(body.email, body.password) : auth.refreshGrant(body.refreshToken);
  });

  app.get('/.well-known/jwks.json', {
    config: { auth: 'public' },
    schema: { tags: ['auth'], summary: 'Current and still-valid previous public signing keys', response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) } },
  }, async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return keys.jwks();
  });

  app.post('/v1/password-reset', {
    config: { auth: 'public', rateLimit: 'auth' },
    schema: { tags: ['auth'], summary: 'Send a one-time reset token; always 202', body: Body({ email: Email }), response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...errors() } },
  }, async (request, reply) => {
    await auth.requestPasswordReset(request.body.email);
    return reply.code(202).send({ status: 'accepted' });
  });

  app.post('/v1/password-reset/confirm', {
    config: { auth: 'public', rateLimit: 'auth' },
    schema: {
      tags: ['auth'], summary: 'Set a new password with a reset token; signs out every session',
      body: Body({ token: Type.String({ minLength: 1, maxLength: 200 }), password: Password }),
      response: { 202: Type.Object({ status: Type.Literal('accepted') }), ...errors() },
    },
  }, async (request, reply) => {
    await auth.confirmPasswordReset(request.body.token, request.body.password);
    return reply.code(202).send({ status: 'accepted' });
  });

  app.post('/v1/admin/signing-keys/rotate', {
    config: { access: 'operator' },
    schema: {
      tags: ['operator'], summary: 'Rotate the JWT signing key; the previous key verifies until its grace period ends',
      response: { 200: Type.Object({ kid: Type.String() }), ...errors(401, 403) },
    },
  }, async (request) => {
    const operatorId = operatorOf(request);
    const kid = await keys.rotate((tx, newKid) => audit.record(tx, {
      tenantId: PLATFORM_TENANT_ID, actor: { type: 'operator', id: operatorId }, action: 'signing_key.rotate',
      target: { type: 'signing_key', id: newKid }, requestId: ctxOf(request).requestId,
    }));
    return { kid };
  });
};
