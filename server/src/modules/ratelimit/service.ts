import { Redis } from 'ioredis';
import type { Principal } from '../../lib/principal.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { LeasedBucket, leaseSize } from './lease.js';

/** What to do when the shared store cannot answer: refuse (spend-gating scopes) or let through (DoS-only scopes). */
export type FailMode = 'open' | 'closed';

export interface RateRule {
  /** Stable name of the bucket family: 'tenant:authorize', 'key', 'route:api'… */
  scope: string;
  limit: number;
  windowSeconds: number;
  failMode: FailMode;
}

export interface RateCheck {
  rule: RateRule;
  /** Whose bucket: a tenant id, a key id, a principal id, an IP. */
  subject: string;
}

export interface RateOutcome {
  allowed: boolean;
  /** The tightest bucket touched, for the RateLimit-* headers. */
  limit: number;
  remaining: number;
  resetMs: number;
  retryAfterMs: number | null;
  /** Set when the store was unreachable and a fail mode decided. */
  degraded: FailMode | null;
  scope: string | null;
}

export interface RateLimitStoreOptions {
  redisUrl?: string | undefined;
  /** Key prefix, so several deployments (or test suites) can share one Redis. */
  prefix: string;
  /** Told when the shared store is lost (scopes then follow their fail modes) and when it is back. */
  onStoreChange?: ((up: boolean) => void) | undefined;
}

/** What the limiter answered, per bucket family's scope, for /metrics: plain integers on the hot path. */
export interface RateCounts {
  /** Checks refused because the bucket was empty. */
  refused: Map<string, number>;
  /** Checks the store could not answer, decided by the scope's fail mode: keyed `${scope} ${failMode}`. */
  storeDown: Map<string, number>;
}

/**
 * Token buckets from rate-limiter-flexible, in memory for one process or in Redis for
 * many. Limits are keyed by who is charged (tenant, key), never skipped because the
 * caller is authenticated. In Redis, buckets of 200 points or more are spent from leases
 * (lease.ts): a round trip per 1 % of the bucket rather than per request.
 */
export class RateLimitService {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly leased = new Map<string, LeasedBucket | null>();
  private readonly redis: Redis | undefined;
  readonly counts: RateCounts = { refused: new Map(), storeDown: new Map() };
  private storeWasUp = true;
  /** Set by close(): the connection it ends is no outage to tell of. */
  private closing = false;

  constructor(private readonly options: RateLimitStoreOptions) {
    this.redis = options.redisUrl
      // A command unanswered for 2 s counts as the store being down (a half-open connection
      // would otherwise hold every caller waiting on a lease for the same subject).
      ? new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000, lazyConnect: false })
      : undefined;
    // Connection errors surface through rejected consumes; the client reconnects by itself.
    // Only the changes of state are told, once each, not every failed reconnection.
    this.redis?.on('error', () => undefined);
    this.redis?.on('ready', () => this.storeChanged(true));
    this.redis?.on('close', () => { if (!this.closing) this.storeChanged(false); });
  }

  /**
   * Whether the store is connected: always in memory; in Redis, while the connection is
   * ready. A server that holds the connection but stops answering shows as checks
   * failing (counts.storeDown, after the 2 s command timeout), not here.
   */
  get storeUp(): boolean {
    return !this.redis || this.redis.status === 'ready';
  }

  private storeChanged(up: boolean): void {
    if (up === this.storeWasUp) return;
    this.storeWasUp = up;
    this.options.onStoreChange?.(up);
  }

  /**
   * Settles once the Redis client is connected, or the store is plainly not there (the
   * connection was refused or the host is unknown), or after `boundMs`. Boot waits for it:
   * without, the first requests after start would find the client still connecting and a
   * fail-closed scope would refuse them as if the store were down. A connect timeout is
   * not final: on a busy event loop (a server under load, a machine short of CPU) the client's timer
   * can fire before the connect event it was waiting for, and the client retries.
   */
  async connected(boundMs = 10_000): Promise<void> {
    const redis = this.redis;
    if (!redis || redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(settle, boundMs);
      function settle() {
        clearTimeout(timer);
        redis!.off('ready', settle);
        redis!.off('error', onError);
        resolve();
      }
      function onError(error: NodeJS.ErrnoException) {
        if (error.code === 'ECONNREFUSED' || error.code === 'ENOTFOUND') settle();
      }
      redis.on('ready', settle);
      redis.on('error', onError);
    });
  }

  get store(): 'memory' | 'redis' {
    return this.redis ? 'redis' : 'memory';
  }

  /** `id` is the rule's bucketFamily, made once by the caller for both look-ups. */
  private limiterFor(rule: RateRule, id: string): RateLimiterAbstract {
    let limiter = this.limiters.get(id);
    if (!limiter) {
      const common = { keyPrefix: `${this.options.prefix}:${id}`, points: rule.limit, duration: rule.windowSeconds };
      limiter = this.redis
        ? new RateLimiterRedis({ ...common, storeClient: this.redis, rejectIfRedisNotReady: true })
        : new RateLimiterMemory(common);
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  /** The leases of a Redis bucket family; null where every point goes to the store (memory, small buckets). */
  private leasedFor(rule: RateRule, id: string): LeasedBucket | null {
    let bucket = this.leased.get(id);
    if (bucket === undefined) {
      bucket = this.redis && leaseSize(rule.limit) > 1 ? new LeasedBucket(this.limiterFor(rule, id), rule.limit) : null;
      this.leased.set(id, bucket);
    }
    return bucket;
  }

  /**
   * Consumes one point from every bucket; denied when any is empty. A denied request
   * gives back what it took from the buckets before the one that refused it: a key
   * past its own limit must not go on spending its tenant's (every other credential of
   * the tenant would be refused with it).
   */
  async consume(checks: readonly RateCheck[]): Promise<RateOutcome> {
    let outcome: RateOutcome = { allowed: true, limit: 0, remaining: Number.MAX_SAFE_INTEGER, resetMs: 0, retryAfterMs: null, degraded: null, scope: null };
    for (const [i, check] of checks.entries()) {
      const one = await this.ask(check);
      if (one.degraded) bump(this.counts.storeDown, `${check.rule.scope} ${check.rule.failMode}`);
      else if (!one.allowed) bump(this.counts.refused, check.rule.scope);
      if (!one.allowed) {
        if (i > 0) await this.refund(checks.slice(0, i));
        return one;
      }
      if (one.remaining < outcome.remaining || outcome.limit === 0) outcome = { ...one, degraded: outcome.degraded ?? one.degraded };
    }
    return outcome;
  }

  /**
   * Gives back the point `consume` took from every bucket, for a request that turned out
   * not to be the limiter's business (answered by checks that come before the rate
   * limit). Best effort: a store that cannot answer keeps the point.
   */
  async refund(checks: readonly RateCheck[]): Promise<void> {
    await Promise.all(checks.map(async ({ rule, subject }) => {
      const id = bucketFamily(rule);
      const leased = this.leasedFor(rule, id);
      await (leased ? leased.refund(subject) : this.limiterFor(rule, id).reward(subject, 1)).catch(() => undefined);
    }));
  }

  private async ask({ rule, subject }: RateCheck): Promise<RateOutcome> {
    const id = bucketFamily(rule);
    const leased = this.leasedFor(rule, id);
    if (leased) {
      const outcome = await leased.consume(subject);
      if ('storeDown' in outcome) return storeDownOutcome(rule);
      return outcome.allowed ? allowedOutcome(rule, outcome.remaining, outcome.resetMs) : refusedOutcome(rule, outcome.resetMs);
    }
    try {
      const res = await this.limiterFor(rule, id).consume(subject, 1);
      return allowedOutcome(rule, res.remainingPoints, res.msBeforeNext);
    } catch (error) {
      if (error instanceof RateLimiterRes) return refusedOutcome(rule, error.msBeforeNext);
      return storeDownOutcome(rule);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const redis = this.redis;
    if (!redis) return;
    // A connected client ends once its socket has closed: waited for, so that nothing of
    // it (a 'close' event) outlives close(). One still connecting just stops.
    const ended = redis.status === 'ready' ? new Promise((resolve) => redis.once('end', resolve)) : undefined;
    redis.disconnect();
    await ended;
  }
}

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Buckets of one scope, limit and window: one limiter (and one set of leases) serves them all. */
function bucketFamily(rule: RateRule): string {
  return `${rule.scope}:${rule.limit}:${rule.windowSeconds}`;
}

function allowedOutcome(rule: RateRule, remaining: number, resetMs: number): RateOutcome {
  return { limit: rule.limit, scope: rule.scope, allowed: true, remaining, resetMs, retryAfterMs: null, degraded: null };
}

function refusedOutcome(rule: RateRule, msBeforeNext: number): RateOutcome {
  return { limit: rule.limit, scope: rule.scope, allowed: false, remaining: 0, resetMs: msBeforeNext, retryAfterMs: Math.max(1, msBeforeNext), degraded: null };
}

/** The store is unreachable: the rule's fail mode decides, and the outcome says so. */
function storeDownOutcome(rule: RateRule): RateOutcome {
  const allowed = rule.failMode === 'open';
  return { limit: rule.limit, scope: rule.scope, allowed, remaining: 0, resetMs: 0, retryAfterMs: allowed ? null : 1000, degraded: rule.failMode };
}

/** An API key's own bucket, shared by the decision and every other route the key calls. */
export function keyRateCheck(principal: Principal, failMode: FailMode): RateCheck | null {
  if (principal.type !== 'api_key' || !principal.rateLimit) return null;
  // The lineage's bucket: a rotation's successor and the old key in its grace share it.
  return { rule: { scope: 'key', ...principal.rateLimit, failMode }, subject: principal.lineageId };
}

/** Standard RateLimit-* and Retry-After headers for an outcome. */
export function rateLimitHeaders(outcome: RateOutcome): Record<string, string> {
  if (outcome.limit === 0) return {};
  const headers: Record<string, string> = {
    'ratelimit-limit': String(outcome.limit),
    'ratelimit-remaining': String(Math.max(0, outcome.remaining)),
    'ratelimit-reset': String(Math.ceil(outcome.resetMs / 1000)),
  };
  if (!outcome.allowed && outcome.retryAfterMs !== null) headers['retry-after'] = String(Math.ceil(outcome.retryAfterMs / 1000));
  return headers;
}
