import type { FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.js';
import type { CallContext, Principal, UserPrincipal } from '../lib/principal.js';

export type { UserPrincipal };

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('UNAUTHENTICATED');
  return request.principal;
}

export function requireUser(request: FastifyRequest): UserPrincipal {
  const principal = principalOf(request);
  if (principal.type !== 'user') throw new AppError('FORBIDDEN', 'this route needs a user credential');
  return principal;
}

export function ctxOf(request: FastifyRequest): CallContext {
  return { requestId: request.id };
}

/** The tenant a user picked with the `Tollgate-Tenant` header (routes whose path names none); never a body field. */
export function tenantHeaderOf(request: FastifyRequest): string | undefined {
  const header = request.headers['tollgate-tenant'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}
