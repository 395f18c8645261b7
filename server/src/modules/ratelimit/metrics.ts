import { Counter, Gauge, type Registry } from 'prom-client';
import type { RateLimitService } from './service.js';

/**
 * The rate limiter's Prometheus metrics, read from its counts when /metrics is scraped.
 * A store that is down shows at once: scopes then follow their fail modes, so an open
 * scope lets everything through unseen unless someone watches these.
 */
export function trackRateLimits(registry: Registry, limiter: RateLimitService): void {
  const registers = [registry];
  new Counter({
    name: 'tollgate_rate_limit_refusals_total', help: 'Rate-limit checks (not requests) refused because the bucket was empty, by scope', labelNames: ['scope'], registers,
    collect() {
      this.reset();
      for (const [scope, count] of limiter.counts.refused) this.inc({ scope }, count);
    },
  });
  new Counter({
    name: 'tollgate_rate_limit_store_failures_total',
    help: 'Rate-limit checks the shared store (Redis) could not answer, decided by the scope\'s fail mode (open: let through, closed: refused)',
    labelNames: ['scope', 'fail_mode'], registers,
    collect() {
      this.reset();
      for (const [key, count] of limiter.counts.storeDown) {
        const [scope, failMode] = key.split(' ');
        this.inc({ scope: scope!, fail_mode: failMode! }, count);
      }
    },
  });
  new Gauge({
    name: 'tollgate_rate_limit_store_up', help: '1 while the rate-limit store is connected (always in memory; Redis while its connection is ready), else 0',
    // Across a cluster's workers the lowest counts: one worker cut off from Redis is an outage.
    aggregator: 'min', registers,
    collect() {
      this.set(limiter.storeUp ? 1 : 0);
    },
  });
}
