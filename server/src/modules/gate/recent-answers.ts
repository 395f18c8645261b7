/** How long a remembered answer is believed without asking the database again, at most. */
export const ANSWER_TTL_MS = 1_000;
const MAX_TENANTS = 10_000;
const MAX_KINDS_PER_TENANT = 1_000;

interface Known<T> { value: T; until: number }

/**
 * What the decision statement answered a moment ago for a kind of call of a tenant
 * (principal, operation, model), so that a tenant hammering past its quota is refused from
 * memory, not by a statement per call (DecisionService keeps the meters it found full):
 * counters only grow within a period, so a full meter stays full until its limit is
 * raised, the period ends, or something in front of it changes; forgotten at once when
 * this process admits anything for the tenant, or hears of a change to it (admin patch,
 * module switch, membership, keys: the change feed, also from other processes); what the
 * feed does not carry is believed for at most ANSWER_TTL_MS, and never past the period.
 * Only ever a refusal is answered from here: nothing admits, so no limit can be passed.
 */
export class RecentAnswers<T> {
  private readonly byTenant = new Map<string, Map<string, Known<T>>>();
  /** Moves on every change heard, so an answer read before the change is not remembered after it. */
  private changes = 0;

  constructor(private readonly ttlMs: number = ANSWER_TTL_MS) {}

  get(tenantId: string, kind: string, now: number): T | undefined {
    const kinds = this.byTenant.get(tenantId);
    const known = kinds?.get(kind);
    if (!known) return undefined;
    if (known.until > now) return known.value;
    kinds!.delete(kind);
    return undefined;
  }

  /** Where the changes stood when a batch was sent: pass it back to remember() its answer. */
  get generation(): number {
    return this.changes;
  }

  /** `endsAt`: when the answer stops being true whatever happens (the period's end). */
  remember(tenantId: string, kind: string, value: T, now: number, endsAt: number, generation: number): void {
    if (generation !== this.changes) return;
    let kinds = this.byTenant.get(tenantId);
    if (!kinds) {
      if (this.byTenant.size >= MAX_TENANTS) this.byTenant.delete(this.byTenant.keys().next().value as string);
      kinds = new Map();
      this.byTenant.set(tenantId, kinds);
    }
    if (kinds.size >= MAX_KINDS_PER_TENANT) kinds.clear();
    kinds.set(kind, { value, until: Math.min(now + this.ttlMs, endsAt) });
  }

  /** The tenant's answers no longer hold (this process admitted something for it: its counts have moved). */
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
