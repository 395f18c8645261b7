import { AppError } from '../../lib/errors.js';
import type { Executor } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import { keysetPage } from '../../lib/cursor.js';
import { newId } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import type { Actor, AuditService } from '../audit/index.js';
import type { Period } from '../billing/index.js';
import type { Role } from '../tenancy/index.js';
import * as repo from './repo.js';

export interface MeterUsage {
  meter: string;
  used: number;
  limit: number | null;
  remaining: number | null;
  periodStart: string;
  periodEnd: string;
  resetsAt: string;
}

/** Set when a role listed in the meter's bypassRoles passed a full meter. */
export interface Bypass { reason: Role; meter: string }

export interface ConsumeInput {
  tenantId: string;
  meter: string;
  amount: number;
  limit: number | null;
  period: Period;
  role: Role | null;
  actor: Actor;
  requestId?: string | undefined;
}

export type ConsumeResult = Result<{ usage: MeterUsage; bypass: Bypass | null }, { code: 'LIMIT_EXCEEDED'; usage: MeterUsage }>;
export type AcquireResult = Result<{ active: number; limit: number | null }, { code: 'LIMIT_EXCEEDED'; active: number; limit: number }>;

export interface UsageEvent {
  id: string; meter: string; quantity: number; periodStart: string; bypass: boolean; role: string | null;
  actor: { type: string; id: string | null }; usedAfter: number; limit: number | null; createdAt: string;
}

/** Usage counters and concurrent-run leases. Every method runs in the caller's transaction so the decision can compose them. */
export class LimitsService {
  constructor(
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly bypassRoles: Readonly<Record<string, readonly Role[]>>,
  ) {}

  async consume(tx: Executor, input: ConsumeInput): Promise<ConsumeResult> {
    // The HTTP schema refuses these; an in-process call reaches here with whatever it was given.
    if (!Number.isSafeInteger(input.amount) || input.amount < 1) throw new AppError('VALIDATION_FAILED', 'amount must be a positive integer');
    const now = this.clock.now();
    const mayBypass = input.role !== null && (this.bypassRoles[input.meter] ?? []).includes(input.role);
    const result = await repo.consume(tx, {
      tenantId: input.tenantId, meter: input.meter, period: input.period, amount: input.amount,
      limit: input.limit, open: input.limit === null || mayBypass, now,
    }, { id: newId('evt', now.getTime()), role: input.role, actorType: input.actor.type, actorId: input.actor.id, mayBypass });
    const usage = usageOf(input.meter, result.used, input.limit, input.period);
    if (!result.admitted) return err({ code: 'LIMIT_EXCEEDED', usage });
    if (!result.bypass) return ok({ usage, bypass: null });
    await this.audit.record(tx, {
      tenantId: input.tenantId, actor: input.actor, action: 'limit.bypass', target: { type: 'meter', id: input.meter },
      data: { role: input.role, used: result.used, limit: input.limit, periodStart: input.period.start.toISOString() }, requestId: input.requestId,
    });
    return ok({ usage, bypass: { reason: input.role!, meter: input.meter } });
  }

  async usage(tx: Executor, tenantId: string, limits: Record<string, number | null>, period: Period): Promise<MeterUsage[]> {
    const used = await repo.usedInPeriod(tx, tenantId, period.start);
    return Object.entries(limits).map(([meter, limit]) => usageOf(meter, used.get(meter) ?? 0, limit, period));
  }

  /** After the tenant's limits changed, in that transaction: the thresholds its counts already stand at are announced (repo.announceStanding). */
  async limitsChanged(tx: Executor, tenantId: string, limits: Record<string, number | null>, period: Period, at: Date): Promise<void> {
    const used = await repo.usedInPeriod(tx, tenantId, period.start);
    const standing = Object.entries(limits).flatMap(([meter, limit]) => (limit !== null && limit > 0 && (used.get(meter) ?? 0) > 0 ? [{ meter, used: used.get(meter)!, limit }] : []));
    await repo.announceStanding(tx, tenantId, period.start, standing, at);
  }

  /** A concurrent-run slot held until released or until `expiresAt`; null limit means unlimited. */
  async acquireRun(tx: Executor, input: { tenantId: string; leaseId: string; expiresAt: Date; limit: number | null }): Promise<AcquireResult> {
    if (input.limit === null) return ok({ active: 0, limit: null });
    const now = this.clock.now();
    const active = await repo.acquireLease(tx, { ...input, limit: input.limit, now });
    if (active === null) return err({ code: 'LIMIT_EXCEEDED', active: await repo.activeLeases(tx, input.tenantId, now), limit: input.limit });
    return ok({ active, limit: input.limit });
  }

  /**
   * The tenant's open runs (`runs`, its decisions' held reservations) each hold a slot from
   * now on: those admitted while it had no concurrent-run limit were given none, and count
   * once it has one. Idempotent; nothing is locked when there are none.
   */
  async adoptRuns(tx: Executor, tenantId: string, runs: readonly { id: string; expiresAt: Date }[]): Promise<void> {
    if (runs.length > 0) await repo.adoptLeases(tx, tenantId, runs, this.clock.now());
  }

  async releaseRun(tx: Executor, tenantId: string, leaseId: string): Promise<boolean> {
    return repo.releaseLease(tx, tenantId, leaseId, this.clock.now());
  }

  async activeRuns(tx: Executor, tenantId: string): Promise<number> {
    return repo.activeLeases(tx, tenantId, this.clock.now());
  }

  async events(tx: Executor, tenantId: string, q: { cursor?: string | undefined; limit: number }): Promise<{ events: UsageEvent[]; nextCursor: string | null }> {
    const page = await keysetPage(q, (before, limit) => repo.listEvents(tx, tenantId, before, limit));
    return {
      events: page.items.map((r) => ({
        id: r.id, meter: r.meter, quantity: r.quantity, periodStart: r.periodStart.toISOString(), bypass: r.bypass, role: r.role,
        actor: { type: r.actorType, id: r.actorId }, usedAfter: r.usedAfter, limit: r.limitValue, createdAt: r.createdAt.toISOString(),
      })),
      nextCursor: page.nextCursor,
    };
  }
}

function usageOf(meter: string, used: number, limit: number | null, period: Period): MeterUsage {
  return {
    meter, used, limit, remaining: limit === null ? null : Math.max(0, limit - used),
    periodStart: period.start.toISOString(), periodEnd: period.end.toISOString(), resetsAt: period.end.toISOString(),
  };
}
