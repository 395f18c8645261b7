import type { FastifyInstance } from 'fastify';
import type { RateScopeConfig } from '../config-schema.js';
import { AppError } from '../lib/errors.js';
import type { Principal } from '../lib/principal.js';
import { keyRateCheck, rateLimitHeaders, type RateCheck, type RateLimitService } from '../modules/ratelimit/index.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which bucket a route draws from: 'api' (per principal, the default for authenticated routes), 'auth' (per client IP), or 'none'. */
    rateLimit?: 'api' | 'auth' | 'none';
  }
}

export function principalId(principal: Principal): string {
  return principal.type === 'user' ? principal.userId : principal.keyId;
}

/**
 * Route-scope limits for every request, after the credential is known and before the
 * body is looked at. Authentication exempts nobody; only the configured principal ids do.
 */
export function registerRateLimitHook(
  app: FastifyInstance,
  limiter: RateLimitService,
  scopes: { api: RateScopeConfig; auth: RateScopeConfig },
  bypass: ReadonlySet<string>,
): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.url) return;
    const config = request.routeOptions.config;
    const scope = config.rateLimit ?? (config.auth === 'public' ? 'none' : 'api');
    if (scope === 'none') return;
    const subject = scope === 'auth' ? `ip:${request.ip}` : request.principal ? principalId(request.principal) : null;
    if (subject === null || bypass.has(subject)) return;
    const checks: RateCheck[] = [{ rule: { scope: `route:${scope}`, ...scopes[scope] }, subject }];
    // A key's own limit applies on top of the route's, on every route it calls.
    const keyCheck = request.principal && keyRateCheck(request.principal, scopes[scope].failMode);
    if (keyCheck) checks.push(keyCheck);
    const outcome = await limiter.consume(checks);
    reply.headers(rateLimitHeaders(outcome));
    if (!outcome.allowed) {
      throw new AppError(outcome.degraded === 'closed' ? 'RATE_LIMIT_UNAVAILABLE' : 'RATE_LIMITED', undefined, { retryAfterMs: outcome.retryAfterMs });
    }
  });
}
