import type { BatchOutcome } from './batch.js';

/** How long a full meter is believed without asking the database again, at most. */
export const FULL_METER_TTL_MS = 1_000;
const MAX_TENANTS = 10_000;
const MAX_KINDS_PER_TENANT = 1_000;

interface Known { outcome: BatchOutcome; until: number }

/**
 * Meters known to be full: a tenant hammering past its quota is refused from memory, not
 * by a database statement per call. Counters only grow within a period, so a meter the
 * batch found full stays full until its limit is raised, the period ends, or something
 * else in front of it changes (plan, module, role, key). This process forgets a tenant at
 * once when it admits anything for it or hears of a change to it (admin patch, module
 * switch, membership, keys: the change feed, also from other processes); what the feed
 * does not carry is believed for at most FULL_METER_TTL_MS, and never past the period.
 *
 * Only ever a refusal: nothing here admits, so it cannot let a tenant past a limit.
 * Entries are per kind of request (principal, operation, model), so a request that an
 * earlier check (model, module) would refuse differently never borrows another's answer.
 */
export class FullMeters {
  private readonly byTenant = new Map<string, Map<string, Known>>();
  /** Moves on every change heard, so an answer read before the change is not remembered after it. */
  private changes = 0;

  constructor(private readonly ttlMs: number = FULL_METER_TTL_MS) {}

  get(tenantId: string, kind: string, now: number): BatchOutcome | undefined {
    const kinds = this.byTenant.get(tenantId);
    const known = kinds?.get(kind);
    if (!known) return undefined;
    if (known.until > now) return known.outcome;
    kinds!.delete(kind);
    return undefined;
  }

  /** Where the changes stood when a batch was sent: pass it back to remember() its answer. */
  get generation(): number {
    return this.changes;
  }

  remember(tenantId: string, kind: string, outcome: BatchOutcome, now: number, generation: number): void {
    if (generation !== this.changes) return;
    let kinds = this.byTenant.get(tenantId);
    if (!kinds) {
      if (this.byTenant.size >= MAX_TENANTS) this.byTenant.delete(this.byTenant.keys().next().value as string);
      kinds = new Map();
      this.byTenant.set(tenantId, kinds);
    }
    if (kinds.size >= MAX_KINDS_PER_TENANT) kinds.clear();
    kinds.set(kind, { outcome, until: Math.min(now + this.ttlMs, outcome.periodEnd.getTime()) });
  }

  /** This process admitted something for the tenant: its counts have moved. */
  forget(tenantId: string): void {
    this.byTenant.delete(tenantId);
  }

  /** A change was made to the tenant (or, with null, to something any tenant may depend on). */
  changed(tenantId: string | null): void {
    this.changes++;
    if (tenantId === null) this.byTenant.clear();
    else this.byTenant.delete(tenantId);
  }
}
