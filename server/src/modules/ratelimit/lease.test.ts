import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { afterAll, describe, expect, it } from 'vitest';
import { LeasedBucket, leaseSize } from './lease.js';
import { RateLimitService } from './service.js';

const REDIS_URL = process.env.REDIS_URL || undefined;

describe('lease sizes', () => {
  it('1 % of the bucket, and 1 (a store round trip per point) under 200 points', () => {
    expect([leaseSize(1), leaseSize(60), leaseSize(199), leaseSize(200), leaseSize(6000), leaseSize(1_000_000_000)]).toEqual([1, 1, 1, 2, 60, 10_000_000]);
  });
});

describe.skipIf(!REDIS_URL)('leased Redis buckets', () => {
  const redis = REDIS_URL ? new Redis(REDIS_URL) : undefined;
  afterAll(() => redis?.disconnect());

  /** Processes sharing one bucket: each its own limiter and leases over the same keys. */
  function processes(count: number, limit: number, clock?: () => number) {
    const keyPrefix = `lease-${Date.now()}-${Math.random()}`;
    const buckets = Array.from({ length: count }, () => new LeasedBucket(new RateLimiterRedis({ storeClient: redis!, keyPrefix, points: limit, duration: 60 }), limit, clock));
    const counted = async (subject: string) => Number(await redis!.get(`${keyPrefix}:${subject}`) ?? 0);
    return { buckets, counted, keyPrefix };
  }

  it('two processes, 3,000 concurrent calls on a 1,000-point bucket: exactly 1,000 admitted, about one store call per lease', async () => {
    const { buckets, counted } = processes(2, 1000);
    const calls = Array.from({ length: 3000 }, (_, i) => buckets[i % 2]!.consume('tnt'));
    const outcomes = await Promise.all(calls);
    expect(outcomes.filter((o) => 'allowed' in o && o.allowed)).toHaveLength(1000);
    expect(outcomes.some((o) => 'storeDown' in o)).toBe(false);
    // Leases of 10, one ask at a time per process: the counter moved in steps of 10, past
    // the limit only by each process's one refused ask (later refusals are answered locally).
    const count = await counted('tnt');
    expect(count % 10).toBe(0);
    expect(count).toBeLessThanOrEqual(1020);
    const refused = outcomes.find((o) => 'allowed' in o && !o.allowed) as { resetMs: number };
    expect(refused.resetMs).toBeGreaterThan(0);
    expect(refused.resetMs).toBeLessThanOrEqual(60_000);
  });

  it('a lease is spent without the store: the counter moves once per 10 points', async () => {
    const { buckets: [bucket], counted } = processes(1, 1000);
    const seen: number[] = [];
    for (let i = 0; i < 11; i++) {
      const outcome = await bucket!.consume('k');
      expect(outcome).toMatchObject({ allowed: true });
      seen.push(await counted('k'));
    }
    expect(seen).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 20]);
    expect(await bucket!.consume('other')).toMatchObject({ allowed: true, remaining: 999 });
  });

  it('near the limit a lease keeps only what was left, and the other process is refused', async () => {
    const { buckets: [first, second], counted } = processes(2, 1000);
    for (let i = 0; i < 995; i++) expect(await first!.consume('t')).toMatchObject({ allowed: true });
    // first holds its lease's last 5 points (it took 1,000 in leases of 10).
    expect(await counted('t')).toBe(1000);
    expect(await second!.consume('t')).toMatchObject({ allowed: false });
    for (let i = 0; i < 5; i++) expect(await first!.consume('t')).toMatchObject({ allowed: true });
    expect(await first!.consume('t')).toMatchObject({ allowed: false });

    // Another bucket, 996 spent by single asks: a lease of 10 gets the 4 left, then refusals are answered here.
    const { buckets: [lone], counted: countedLone, keyPrefix } = processes(1, 1000);
    await new RateLimiterRedis({ storeClient: redis!, keyPrefix, points: 1000, duration: 60 }).consume('u', 996);
    const outcomes = [];
    for (let i = 0; i < 6; i++) outcomes.push(await lone!.consume('u'));
    expect(outcomes.map((o) => 'allowed' in o && o.allowed)).toEqual([true, true, true, true, false, false]);
    expect(await countedLone('u')).toBe(1006);
  });

  it('a refunded point goes back into the lease; a lease lapses with its window', async () => {
    let now = Date.now();
    const { buckets: [bucket], counted } = processes(1, 1000, () => now);
    await bucket!.consume('r');
    await bucket!.refund('r');
    for (let i = 0; i < 10; i++) await bucket!.consume('r');
    expect(await counted('r')).toBe(10);
    // Past the window this process saw, the lease's points are gone: the next point is a new lease.
    now += 61_000;
    await bucket!.consume('r');
    expect(await counted('r')).toBe(20);
  });

  it('a lease ends where the window ends counted from before the ask: a slow answer shortens it, never stretches it', async () => {
    // This process's clock reads 0 when it asks and 1,000 ms on every later look.
    let looks = 0;
    const { buckets: [bucket] } = processes(1, 1000, () => (looks++ === 0 ? 0 : 1000));
    const first = await bucket!.consume('slow') as { resetMs: number };
    const second = await bucket!.consume('slow') as { resetMs: number };
    expect(first.resetMs).toBeGreaterThan(59_000);
    expect(second.resetMs).toBeLessThanOrEqual(first.resetMs - 1000);
  });

  it('through the service: RateLimit-* figures count the lease, small buckets stay exact per call', async () => {
    const service = new RateLimitService({ redisUrl: REDIS_URL, prefix: `svc-${Date.now()}-${Math.random()}` });
    await service.connected();
    const big = [{ rule: { scope: 'tenant:authorize', limit: 6000, windowSeconds: 60, failMode: 'closed' as const }, subject: 'tnt_a' }];
    expect(await service.consume(big)).toMatchObject({ allowed: true, limit: 6000, remaining: 5999 });
    expect(await service.consume(big)).toMatchObject({ allowed: true, remaining: 5998 });
    const small = [{ rule: { scope: 'route:auth', limit: 2, windowSeconds: 60, failMode: 'open' as const }, subject: 'ip:1' }];
    expect((await Promise.all([1, 2, 3].map(() => service.consume(small)))).map((o) => o.allowed).sort()).toEqual([false, true, true]);
    await service.close();
  });
});
