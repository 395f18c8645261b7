import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/errors.js';
import type { Principal } from '../lib/principal.js';
import { clientOf } from './rate-limit-hook.js';
import { routeOf } from './route-of.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** 'public' routes skip credential resolution; every other route requires a credential. */
    auth?: 'public' | 'required';
  }
}

/**
 * `onBehalfOf` is the raw Tollgate-On-Behalf-Of header: only a service key may carry it.
 * `client` names who presents the credential (its address), for the per-address limits.
 */
export type CredentialResolver = (bearer: string, onBehalfOf?: string, client?: string) => Promise<Principal>;

/**
 * Resolves the Authorization header to a Principal once per request, before any
 * handler runs. The resolver is the single path every credential type goes through.
 */
export function registerAuthHook(app: FastifyInstance, resolve: CredentialResolver): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const route = routeOf(request);
    if (route.config.auth === 'public' || !route.url) return;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([!-~]{1,4096})$/i.exec(header) : null;
    if (!match) throw new AppError('UNAUTHENTICATED');
    const onBehalfOf = request.headers['tollgate-on-behalf-of'];
    request.principal = await resolve(match[1]!, typeof onBehalfOf === 'string' ? onBehalfOf : undefined, clientOf(request));
  });
}
