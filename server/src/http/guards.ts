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
