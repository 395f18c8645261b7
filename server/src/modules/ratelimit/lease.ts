import { performance } from 'node:perf_hooks';
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/**
 * The share of a shared (Redis) bucket a process takes at a time. Asking Redis for every
 * point costs each request a round trip, and across several processes on one machine
 * that round trip costs more than the processes gain. A process instead takes 1 % of the
 * bucket's points at once (a lease) and spends them locally until the bucket's window
 * ends. Rate limits are the only quota leased: usage limits and credits are decided by
 * the database, one request at a time.
 */
export const LEASE_SHARE = 0.01;

/** Points one lease takes: 1 for buckets under 200 points, which stay exact per call. */
export function leaseSize(limit: number): number {
  return Math.max(1, Math.floor(limit * LEASE_SHARE));
}

/** What a consume came to: spent (with what is left), refused (with the wait), or the store could not answer. */
export type LeaseOutcome =
  | { allowed: true; remaining: number; resetMs: number }
  | { allowed: false; resetMs: number }
  | { storeDown: true };

interface Lease {
  /** Points held here, not yet spent. */
  points: number;
  /** What the shared bucket had left when the lease was taken. */
  remoteRemaining: number;
  /** When the bucket's window ends (ms, this process's monotonic clock); the points lapse with it. */
  endsAt: number;
}

/** Leases held before lapsed ones are swept out; the sweep threshold doubles with what it leaves. */
const SWEEP_AT = 10_000;
/** Leases held at most: beyond, the oldest are given up (their unspent points are lost, never over-spent). */
const MAX_LEASES = 200_000;

/**
 * Leases of one shared bucket family, per subject. Never admits more than the bucket's
 * limit across all processes: every point spent here was counted in Redis first. It may
 * refuse early: points another process leased and has not spent are out of reach until
 * the window ends, so with P processes a bucket can refuse up to (P − 1) × (lease − 1)
 * points early in a window. A lease taken where fewer points are left than its size keeps
 * those left (the counter moved past the limit in one atomic step, so no other process got
 * them). A lease is spent locally even when Redis has gone away since; the fail mode
 * applies when a process must ask the store.
 */
export class LeasedBucket {
  private readonly leases = new Map<string, Lease>();
  private readonly taking = new Map<string, Promise<LeaseOutcome>>();
  private readonly size: number;
  private sweepAt = SWEEP_AT;

  constructor(private readonly limiter: RateLimiterAbstract, private readonly limit: number, private readonly now: () => number = () => performance.now()) {
    this.size = leaseSize(limit);
  }

  async consume(subject: string): Promise<LeaseOutcome> {
    for (;;) {
      const held = this.spend(subject);
      if (held) return held;
      const inFlight = this.taking.get(subject);
      if (!inFlight) break;
      // Another caller is taking a lease for this subject: wait for it, then spend from it.
      const outcome = await inFlight;
      if ('storeDown' in outcome) return outcome;
    }
    const taking = this.take(subject).finally(() => this.taking.delete(subject));
    this.taking.set(subject, taking);
    return taking;
  }

  /** Gives a point back: into the lease it came from while that lasts, else to the shared bucket. */
  async refund(subject: string): Promise<void> {
    const lease = this.leases.get(subject);
    if (lease && this.now() < lease.endsAt) {
      lease.points++;
      return;
    }
    await this.limiter.reward(subject, 1);
  }

  /** A point from the lease held, or the refusal it records; null when a lease must be taken. */
  private spend(subject: string): LeaseOutcome | null {
    const lease = this.leases.get(subject);
    if (!lease) return null;
    const left = lease.endsAt - this.now();
    if (left <= 0) {
      this.leases.delete(subject);
      return null;
    }
    if (lease.points === 0) return lease.remoteRemaining === 0 ? { allowed: false, resetMs: left } : null;
    lease.points--;
    return { allowed: true, remaining: lease.remoteRemaining + lease.points, resetMs: left };
  }

  /** Takes a lease from the shared bucket and spends its first point for the caller. */
  private async take(subject: string): Promise<LeaseOutcome> {
    // The window's end counted from before the ask: the answer's way back (and a busy event
    // loop) only shorten the lease here, never stretch it past the window in Redis.
    const asked = this.now();
    let res: RateLimiterRes;
    let fit: number;
    try {
      res = await this.limiter.consume(subject, this.size);
      fit = this.size;
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) return { storeDown: true };
      res = error;
      // The counter went from consumed − size to consumed at once: what was left below the limit is ours.
      fit = Math.max(0, this.limit - (res.consumedPoints - this.size));
    }
    if (this.leases.size >= this.sweepAt) this.sweep();
    const endsAt = asked + res.msBeforeNext;
    const remoteRemaining = fit === this.size ? res.remainingPoints : 0;
    if (fit === 0) {
      this.leases.set(subject, { points: 0, remoteRemaining: 0, endsAt });
      return { allowed: false, resetMs: res.msBeforeNext };
    }
    this.leases.set(subject, { points: fit - 1, remoteRemaining, endsAt });
    return { allowed: true, remaining: remoteRemaining + fit - 1, resetMs: res.msBeforeNext };
  }

  private sweep(): void {
    const now = this.now();
    for (const [subject, lease] of this.leases) if (lease.endsAt <= now) this.leases.delete(subject);
    for (const subject of this.leases.keys()) {
      if (this.leases.size < MAX_LEASES) break;
      this.leases.delete(subject);
    }
    this.sweepAt = Math.max(SWEEP_AT, this.leases.size * 2);
  }
}
