import { createHash } from 'node:crypto';
import { AssumeRoleCommand, STSClient, type AssumeRoleCommandOutput } from '@aws-sdk/client-sts';
import type { RoutingConfig } from '../../config-schema.js';
import { inTenant } from '../../db/scope.js';
import type { Db } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { CallContext, Principal } from '../../lib/principal.js';
import type { Actor, AuditService } from '../audit/index.js';
import type { DecisionReservation } from '../credits/index.js';
import type { RateCheck, RateLimitService, RateRule } from '../ratelimit/index.js';
import type { ProviderCredentialsView } from './schemas.js';
import type { RoutingService } from './service.js';

/** Temporary AWS credentials as STS issued them. */
export interface AwsCredentials { accessKeyId: string; secretAccessKey: string; sessionToken: string; expiration: Date }

export interface CredentialParts {
  db: Db;
  clock: Clock;
  audit: AuditService;
  routing: RoutingService;
  sts: RoutingConfig['sts'];
  /** Where the tenants' failed STS calls are counted (FAILED_STS_CALLS). */
  limiter: RateLimitService;
  /** The reservation an admitted decision opened (credits' ReservationsService#byDecision), any tenant's when `tenantId` is null. */
  findDecision: (decisionId: string, tenantId: string | null) => Promise<DecisionReservation | undefined>;
  /**
   * The key still valid and the decision's tenant still in good standing (tenancy's check,
   * read now): for an API key and a service key alike, and the member a service key acts for still one.
   */
  checkTenant: (principal: Principal, tenantId: string) => Promise<void>;
}

/** `asked`: when its STS call was made (the process's count of them), so an older call answering last does not replace it. */
interface Cached { credentials: AwsCredentials; refreshAt: number; asked: number }

const MAX_CACHED = 10_000;

/**
 * STS clients kept between calls, one per region: AWS has some 35, and a region's client
 * is kept only once STS has issued credentials through it. A region's pattern lets
 * millions through (a tenant may name any) and most name no endpoint: each of those gets
 * a client for its call alone. Past the bound, so does any other region.
 */
const MAX_CLIENTS = 64;

/**
 * STS calls of a tenant's routes that may fail in a window: each failed call (a role that
 * does not trust the platform with the external ID, or anything else STS answers) spends a
 * point, a call that gets credentials gives its point back. Past them the tenant's next
 * STS call is refused here (429 RATE_LIMITED) until the window ends: the platform's AWS
 * account answers for every tenant's calls, and a tenant's misconfigured or probing routes
 * must not run it into STS's own throttling. Open when the store is down: the limit
 * guards STS, not spending.
 */
const FAILED_STS_CALLS: RateRule = { scope: 'routing:sts-failed', limit: 10, windowSeconds: 900, failMode: 'open' };

/**
 * Short-lived credentials for the route a decision named (POST /v1/routes/credentials):
 * for a Bedrock route, STS AssumeRole with the route's role and external ID, made with the
 * platform's own AWS credentials (the SDK's standard provider chain); cached until
 * `refreshBeforeSeconds` before they expire, one STS call for any number of concurrent
 * requests, dropped at once when the route changes in this process. Cached and in-flight
 * credentials are keyed by what they are (cacheKey): served only for the role, region and
 * external ID the route row, read for every request, names now. For a key route, its key.
 */
export class ProviderCredentials {
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<AwsCredentials>>();
  private readonly clients = new Map<string, STSClient>();
  /** Set by close(): a call still on its way then keeps no client. */
  private closed = false;
  /** STS calls made (for tests and /metrics). */
  stsCalls = 0;
  private asked = 0;

  constructor(private readonly p: CredentialParts) {
    p.routing.onChange((tenantId, name) => this.forget(tenantId, name));
  }

  /** The credentials of a decision's route, for a service key or an API key (scope `credentials`) of the decision's tenant. */
  async forDecision(principal: Principal, decisionId: string, ctx: CallContext = {}): Promise<ProviderCredentialsView> {
    const scope = this.tenantScope(principal);
    const found = await this.p.findDecision(decisionId, scope);
    // Another tenant's decision is the same 404 as none: its existence is not told.
    if (!found) throw new AppError('DECISION_NOT_FOUND');
    // A suspension stops every credential of the tenant at once, the platform's service keys included.
    await this.p.checkTenant(principal, found.tenantId);
    if (found.status !== 'held' || found.expiresAt.getTime() <= this.p.clock.now().getTime()) throw new AppError('DECISION_NOT_ACTIVE');
    const route = found.route;
    if (!route || route.billing !== 'tenant' || typeof route.name !== 'string') {
      throw new AppError('ROUTE_UNAVAILABLE', 'the decision runs on the platform\'s provider account: its credentials are the platform\'s own');
    }
    const usable = await this.p.routing.usable(found.tenantId, route.name);
    // The route as the decision read it, or nothing: one decision is not tried on route after route (a role, an external ID …).
    if (!usable || usable.row.revision !== route.revision) {
      throw new AppError('ROUTE_UNAVAILABLE', `the tenant's route "${route.name}" is deleted, disabled or changed since the decision: ask for a new decision`);
    }
    const { row, secret, externalId } = usable;
    if (row.provider !== 'bedrock') return { provider: row.provider, route: row.name, apiKey: secret, baseUrl: row.baseUrl };
    const actor: Actor = { type: principal.type === 'api_key' ? 'api_key' : 'service', id: principal.type === 'user' ? principal.userId : principal.keyId };
    const credentials = await this.assumed({ tenantId: found.tenantId, name: row.name, region: row.region!, roleArn: row.roleArn!, externalId: externalId! }, actor, ctx);
    return {
      provider: 'bedrock', region: row.region!, route: row.name,
      credentials: { ...credentials, expiration: credentials.expiration.toISOString() },
    };
  }

  /** Drops what is cached for a route (whatever role it named): memory only, the key already keeps a changed route's apart. */
  forget(tenantId: string, name: string): void {
    const prefix = routePrefix(tenantId, name);
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  /**
   * Which tenant's decisions the caller may ask about: a service key any (it is the
   * platform's), unless it acts for a member, then that member's tenant's, as when it
   * settles or releases (another's is the 404 of a missing one); an API key its own tenant's.
   */
  private tenantScope(principal: Principal): string | null {
    if (principal.type === 'service') return principal.onBehalfOf?.tenantId ?? null;
    if (principal.type === 'api_key') {
      if (!principal.scopes.includes('credentials')) throw new AppError('INSUFFICIENT_SCOPE', 'the key needs the credentials scope');
      return principal.tenantId;
    }
    throw new AppError('FORBIDDEN', 'provider credentials are for a backend: a service key, or an API key with the credentials scope');
  }

  private async assumed(route: BedrockRoute, actor: Actor, ctx: CallContext): Promise<AwsCredentials> {
    const key = cacheKey(route);
    const cached = this.cache.get(key);
    if (cached && this.p.clock.now().getTime() < cached.refreshAt) return cached.credentials;
    let pending = this.inFlight.get(key);
    if (!pending) {
      const asked = ++this.asked;
      pending = this.assumeRole(route, actor, ctx).then((credentials) => {
        this.keep(route, key, { credentials, refreshAt: credentials.expiration.getTime() - this.p.sts.refreshBeforeSeconds * 1000, asked });
        return credentials;
      }).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /**
   * Caches credentials as their route's one entry (another role's, or older ones, are
   * dropped), unless a call made later — for the route as it was read since — has already
   * answered: the route changed while this one was on its way.
   */
  private keep(route: BedrockRoute, key: string, entry: Cached): void {
    const prefix = routePrefix(route.tenantId, route.name);
    for (const [other, cached] of this.cache) {
      if (!other.startsWith(prefix)) continue;
      if (cached.asked > entry.asked) return;
      this.cache.delete(other);
    }
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, entry);
  }

  private async assumeRole(route: BedrockRoute, actor: Actor, ctx: CallContext): Promise<AwsCredentials> {
    const sessionName = `${this.p.sts.sessionNamePrefix}-${route.tenantId}`;
    const failures: RateCheck[] = [{ rule: FAILED_STS_CALLS, subject: route.tenantId }];
    const budget = await this.p.limiter.consume(failures);
    if (!budget.allowed) {
      throw new AppError('RATE_LIMITED', `too many failed STS calls for the tenant's routes: none is made for ${Math.ceil((budget.retryAfterMs ?? 1000) / 1000)} s`, { retryAfterMs: budget.retryAfterMs });
    }
    this.stsCalls++;
    let answer;
    try {
      answer = await this.send(route.region, new AssumeRoleCommand({
        RoleArn: route.roleArn, ExternalId: route.externalId, RoleSessionName: sessionName, DurationSeconds: this.p.sts.durationSeconds,
      }));
    } catch (error) {
      const reason = refusalOf(error);
      await this.record(route, actor, 'route.credentials_failed', { reason: reason.code, message: reason.message }, ctx);
      throw new AppError('PROVIDER_CREDENTIALS_FAILED', `STS AssumeRole on ${route.roleArn} failed: ${reason.code}: ${reason.message}`, { provider: 'bedrock', reason: reason.code });
    }
    const c = answer.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      await this.record(route, actor, 'route.credentials_failed', { reason: 'IncompleteResponse', message: 'STS answered without credentials' }, ctx);
      throw new AppError('PROVIDER_CREDENTIALS_FAILED', 'STS AssumeRole answered without credentials', { provider: 'bedrock', reason: 'IncompleteResponse' });
    }
    const credentials = { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: new Date(c.Expiration) };
    await this.p.limiter.refund(failures);
    await this.record(route, actor, 'route.credentials_issued', {
      sessionName, accessKeyId: credentials.accessKeyId, assumedRole: answer.AssumedRoleUser?.Arn ?? null, expiration: credentials.expiration.toISOString(),
    }, ctx);
    return credentials;
  }

  /** Each STS call is audited in the tenant's log (issued or refused, never a credential). */
  private async record(route: BedrockRoute, actor: Actor, action: string, data: Record<string, unknown>, ctx: CallContext): Promise<void> {
    await inTenant(this.p.db, route.tenantId, (tx) => this.p.audit.record(tx, {
      tenantId: route.tenantId, actor, action, target: { type: 'route', id: route.name },
      data: { roleArn: route.roleArn, region: route.region, ...data }, requestId: ctx.requestId,
    }));
  }

  /**
   * A call through the region's STS client (STS's regional endpoint of the route's region,
   * or the configured endpoint): the one kept for the region, else a new one, kept once it
   * has brought credentials while fewer than MAX_CLIENTS are kept, else destroyed after
   * its call (concurrent first calls of a region: the first to answer is kept).
   */
  private async send(region: string, command: AssumeRoleCommand): Promise<AssumeRoleCommandOutput> {
    const kept = this.clients.get(region);
    if (kept) return kept.send(command, { abortSignal: AbortSignal.timeout(this.p.sts.timeoutMs) });
    const client = new STSClient({ region, maxAttempts: 2, ...(this.p.sts.endpoint ? { endpoint: this.p.sts.endpoint } : {}) });
    let answered = false;
    try {
      const answer = await client.send(command, { abortSignal: AbortSignal.timeout(this.p.sts.timeoutMs) });
      answered = answer.Credentials !== undefined;
      return answer;
    } finally {
      if (answered && !this.closed && !this.clients.has(region) && this.clients.size < MAX_CLIENTS) this.clients.set(region, client);
      else client.destroy();
    }
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }
}

interface BedrockRoute { tenantId: string; name: string; region: string; roleArn: string; externalId: string }

/**
 * What credentials are, as the cache and the in-flight calls know them: the tenant's route,
 * and the role, region and external ID (its SHA-256: the secret is not kept as a key) they
 * were issued for. Not the route's version: a route deleted and created again starts at 1
 * again, and another process may do that without this one hearing of it (this cache does
 * not follow the change feed) — keyed by version, the old role's credentials would be
 * served for the new route, and a request could join an old route's call still on its way.
 */
function cacheKey(route: BedrockRoute): string {
  const externalId = createHash('sha256').update(route.externalId, 'utf8').digest('hex');
  return `${routePrefix(route.tenantId, route.name)}${route.roleArn}\u0000${route.region}\u0000${externalId}`;
}

/** The start of every key of a route's credentials (no part of a key holds a NUL). */
function routePrefix(tenantId: string, name: string): string {
  return `${tenantId}\u0000${name}\u0000`;
}

/** What STS (or the way to it) said: its error code and message, never anything of the request. */
function refusalOf(error: unknown): { code: string; message: string } {
  const e = error as { name?: unknown; Code?: unknown; message?: unknown };
  const code = typeof e?.Code === 'string' ? e.Code : typeof e?.name === 'string' ? e.name : 'Error';
  const message = typeof e?.message === 'string' && e.message ? e.message.slice(0, 500) : 'no reason given';
  return { code: code === 'TimeoutError' || code === 'AbortError' ? 'Timeout' : code, message };
}
