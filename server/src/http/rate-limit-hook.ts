import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RateScopeConfig } from '../config-schema.js';
import type { CredentialGuard } from '../lib/credential-guard.js';
import { AppError } from '../lib/errors.js';
import { principalId, type Principal } from '../lib/principal.js';
import { keyRateCheck, rateLimitHeaders, type RateCheck, type RateLimitService, type RateOutcome } from '../modules/ratelimit/index.js';
import { routeOf } from './route-of.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which bucket a route draws from: 'api' (per tenant for API keys, else per principal; the default for authenticated routes), 'auth' (per client IP: the sign-in routes), or 'none'. */
    rateLimit?: 'api' | 'auth' | 'none';
  }
}

/**
 * Whose route bucket a principal draws from: a tenant's API keys share their tenant's
 * (route limits are keyed by tenant: minting keys buys no room), a user and a service key
 * have their own. A user's tenant is known only once a route has checked the membership,
 * too late for this hook, and naming a tenant must not spend its bucket.
 */
function routeSubject(principal: Principal): string {
  return principal.type === 'api_key' ? `tenant:${principal.tenantId}` : principalId(principal);
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
    const route = routeOf(request);
    if (!route.url) return;
    const config = route.config;
    const scope = config.rateLimit ?? (config.auth === 'public' ? 'none' : 'api');
    if (scope === 'none') return;
    const principal = request.principal;
    if (principal && bypass.has(principalId(principal))) return;
    const subject = scope === 'auth' ? clientOf(request) : principal ? routeSubject(principal) : null;
    if (subject === null) return;
    const checks: RateCheck[] = [{ rule: { scope: `route:${scope}`, ...scopes[scope] }, subject }];
    // A key's own limit applies on top of the route's, on every route it calls.
    const keyCheck = principal && keyRateCheck(principal, scopes[scope].failMode);
    if (keyCheck) checks.push(keyCheck);
    enforceRate(reply, await limiter.consume(checks));
  });
}

/** Answers a rate check on the reply: its RateLimit-* headers, and the refusal if it was refused. */
export function enforceRate(reply: FastifyReply, outcome: RateOutcome): void {
  reply.headers(rateLimitHeaders(outcome));
  if (!outcome.allowed) throw refusal(outcome);
}

/** The error for a refused check: the store down under a closed scope (503), else the bucket empty (429). */
function refusal(outcome: RateOutcome, message?: string): AppError {
  if (outcome.degraded === 'closed') return new AppError('RATE_LIMIT_UNAVAILABLE');
  return new AppError('RATE_LIMITED', message, { retryAfterMs: outcome.retryAfterMs });
}

/** Who a request comes from, as the per-address buckets name it. */
export function clientOf(request: { ip: string }): string {
  return `ip:${request.ip}`;
}

/**
 * Credentials this process has not seen good (an API key it has not resolved, an access
 * token whose signature it has not checked), per client address, drawn from the bucket
 * of scope `credentials` ('route:credentials'): the costly check (a look-up, a
 * signature) takes a point, and a credential found good gives it back, so only bad ones
 * are spent. An address that has spent the bucket gets RATE_LIMITED for credentials not
 * seen good here, before the check; credentials in use are never held up (KeyResolver,
 * AuthService). Its own bucket, not the sign-in routes': a client stuck on a bad
 * credential does not lock its address out of signing in, nor do sign-ins spend it. A
 * store that cannot answer follows the scope's fail mode: open (the default) lets the
 * check through, closed answers RATE_LIMIT_UNAVAILABLE.
 */
export function unknownCredentialGuard(limiter: RateLimitService, scope: RateScopeConfig, bypass: ReadonlySet<string>): CredentialGuard {
  const checks = (client: string): RateCheck[] => [{ rule: { scope: 'route:credentials', ...scope }, subject: client }];
  return {
    async take(client) {
      if (bypass.has(client)) return null;
      const outcome = await limiter.consume(checks(client));
      return outcome.allowed ? null : refusal(outcome, 'too many unknown credentials from this address');
    },
    async giveBack(client) {
      if (!bypass.has(client)) await limiter.refund(checks(client));
    },
  };
}
