import type { Db, Executor } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import { TtlCache } from '../../lib/cache.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { Period } from '../billing/index.js';
import type { Entitlements } from '../entitlements/index.js';
import type { PeriodStanding } from '../metering/index.js';
import type { RouteSummary } from '../routing/index.js';
import type { TenancyService } from '../tenancy/index.js';

/** What the decision's rules read of a tenant beyond its standing: entitlements, period and routes, and their stamp. */
export interface TenantSnapshot {
  /** tenants.generation when this was read: the decision statement compares it (migration 0009). */
  generation: number;
  entitlements: Entitlements;
  period: Period;
  /** The tenant's provider routes, oldest first (a change to one moves the generation). */
  routes: readonly RouteSummary[];
}

/**
 * Each tenant's entitlements and current period, cached until a change is heard or the
 * database says the snapshot is stale. Reading one rolls an ended period forward and
 * grants its plan credits once (PeriodStanding), so the statement never meets either.
 */
export class TenantSnapshots {
  private readonly cache: TtlCache<string, TenantSnapshot>;
  /** When the database last found a tenant's snapshot current (an answer not "stale"), ms. */
  private readonly confirmed = new Map<string, number>();

  constructor(private readonly db: Db, private readonly clock: Clock, private readonly tenancy: TenancyService,
    private readonly periods: PeriodStanding, ttlMs: number,
    private readonly routesOf: (tx: Executor, tenantId: string) => Promise<RouteSummary[]>) {
    this.cache = new TtlCache({ ttlMs, maxEntries: 50_000, now: () => clock.now().getTime(), refreshAhead: true });
  }

  /** Kept no longer than its period: read again after the end, which rolls the period. */
  async get(tenantId: string): Promise<TenantSnapshot> {
    return (await this.cache.load(tenantId, () => this.read(tenantId), tenantId, (s) => s.period.end.getTime()))!;
  }

  /** The generation first: what is read after it is as new as the stamp says, or newer (never older). */
  private read(tenantId: string): Promise<TenantSnapshot> {
    return inTenant(this.db, tenantId, async (tx) => {
      const generation = await this.tenancy.generation(tx, tenantId);
      if (generation === undefined) throw new AppError('TENANT_NOT_FOUND');
      const { period, entitlements } = await this.periods.standing(tx, tenantId);
      return { generation, period, entitlements, routes: await this.routesOf(tx, tenantId) };
    });
  }

  confirm(tenantId: string, at: number): void {
    if (this.confirmed.size >= 100_000) this.confirmed.clear();
    this.confirmed.set(tenantId, at);
  }

  /** Whether the database found the tenant's snapshot current less than `withinMs` before `now`. */
  confirmedWithin(tenantId: string, now: number, withinMs: number): boolean {
    const at = this.confirmed.get(tenantId);
    return at !== undefined && now - at < withinMs;
  }

  forget(tenantId: string | null): void {
    if (tenantId === null) {
      this.cache.clear();
      this.confirmed.clear();
      return;
    }
    this.cache.delete(tenantId);
    this.confirmed.delete(tenantId);
  }
}
