import type { Db, Executor } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import type { Change } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { CallContext, TenantAccess } from '../../lib/principal.js';
import type { Actor } from '../audit/index.js';
import type { BillingService } from '../billing/index.js';
import { checkPreviewRequest, checkReserveRequest, checkTtlSeconds, quote, type Billing, type CostQuote, type CostRequest, type CreditBalance, type CreditsService, type LedgerEntry, type Quantity, type ReservationsService, type ReserveResult, type ResolveResult } from '../credits/index.js';
import type { Entitlements, EntitlementsService, ModuleView } from '../entitlements/index.js';
import type { AcquireResult, ConsumeResult, LimitsService, MeterUsage, UsageEvent } from '../limits/index.js';
import type { PlansService } from '../plans/index.js';
import { actorOf, type Role } from '../tenancy/index.js';
import type { PeriodStanding } from './periods.js';
import { sweep, type SubscriptionSweep } from './sweep.js';

/** Who acts in which tenant. Routes pass the TenantAccess they checked; an embedding host passes its own. */
export type Caller = TenantAccess | { tenantId: string; role?: Role | null; actor?: Actor };

export interface ReserveRequest {
  idempotencyKey: string;
  operation?: string | undefined;
  quantity?: Quantity | undefined;
  model?: string | undefined;
  /** A fixed amount instead of the operation's price. */
  credits?: number | undefined;
  ttlSeconds?: number | undefined;
}

export interface UsageReport { usage: MeterUsage[]; concurrentRuns: { active: number; limit: number | null }; periodStart: string; periodEnd: string }

export interface MeteringParts {
  db: Db;
  clock: Clock;
  plans: PlansService;
  billing: BillingService;
  entitlements: EntitlementsService;
  limits: LimitsService;
  credits: CreditsService;
  reservations: ReservationsService;
  periods: PeriodStanding;
  /** Tells every process (and this one) of a change to a tenant, after its commit. */
  publish: (change: Change) => Promise<void>;
  /** The subscriptions' time-driven transitions, made by the sweep. */
  subscriptions: SubscriptionSweep;
}

/**
 * The metering core as one object: what the HTTP routes call after checking access, and
 * what `createTollgate(config)` hands an embedding Node app. Each method is one
 * transaction scoped to the tenant; the services underneath take a transaction, so that
 * one call composes them.
 */
export class Metering {
  constructor(private readonly p: MeteringParts) {}

  /** The price of an operation, on the platform's account or (`tenant`) the tenant's own, where the operation has an ownAccount price. */
  previewCost(request: CostRequest, billing: Billing = 'platform'): CostQuote {
    return quote(this.p.plans, checkPreviewRequest(request), billing);
  }

  async entitlements(tenantId: string): Promise<Entitlements> {
    return inTenant(this.p.db, tenantId, (tx) => this.p.entitlements.effective(tx, tenantId));
  }

  async modules(tenantId: string): Promise<ModuleView[]> {
    return this.p.entitlements.listModules(tenantId);
  }

  async setModule(caller: Caller, module: string, enabled: boolean, ctx: CallContext = {}): Promise<ModuleView> {
    const c = callerOf(caller);
    const view = await this.p.entitlements.setModule(c.tenantId, module, enabled, c.actor, ctx);
    // What the decision remembers about the tenant (gate/recent-answers.ts) depends on its modules.
    await this.p.publish({ kind: 'tenant', id: c.tenantId });
    return view;
  }

  /**
   * The tenant's limits changed in `tx` (an operator's override or plan): limit.threshold
   * for what its counts already stand at; and under a concurrent-run limit, every run still
   * open holds a slot — the decision gives one only to runs admitted under a limit, so
   * those admitted while there was none would not count against it (limits.adoptRuns).
   */
  async limitsChanged(tx: Executor, tenantId: string): Promise<void> {
    const period = await this.p.billing.currentPeriod(tx, tenantId);
    const e = await this.p.entitlements.effective(tx, tenantId);
    await this.p.limits.limitsChanged(tx, tenantId, e.limits, period, this.p.clock.now());
    if (e.concurrentRuns !== null) await this.p.limits.adoptRuns(tx, tenantId, await this.p.reservations.openRuns(tx, tenantId));
  }

  async usage(tenantId: string): Promise<UsageReport> {
    return inTenant(this.p.db, tenantId, async (tx) => {
      const period = await this.p.billing.currentPeriod(tx, tenantId);
      const e = await this.p.entitlements.effective(tx, tenantId);
      return {
        usage: await this.p.limits.usage(tx, tenantId, e.limits, period),
        concurrentRuns: { active: await this.p.limits.activeRuns(tx, tenantId), limit: e.concurrentRuns },
        periodStart: period.start.toISOString(), periodEnd: period.end.toISOString(),
      };
    });
  }

  async usageEvents(tenantId: string, q: { cursor?: string | undefined; limit?: number | undefined } = {}): Promise<{ events: UsageEvent[]; nextCursor: string | null }> {
    return inTenant(this.p.db, tenantId, (tx) => this.p.limits.events(tx, tenantId, { cursor: q.cursor, limit: q.limit ?? 50 }));
  }

  /** Counts `amount` against a meter of the current period, atomically; a refusal is a value and consumes nothing. */
  async consume(caller: Caller, meter: string, amount = 1, ctx: CallContext = {}): Promise<ConsumeResult> {
    const c = callerOf(caller);
    return inTenant(this.p.db, c.tenantId, async (tx) => {
      const period = await this.p.billing.currentPeriod(tx, c.tenantId);
      const e = await this.p.entitlements.effective(tx, c.tenantId);
      return this.p.limits.consume(tx, {
        tenantId: c.tenantId, meter, amount, limit: e.limits[meter] ?? null, period, role: c.role, actor: c.actor, requestId: ctx.requestId,
      });
    });
  }

  /** A concurrent-run slot for `ttlSeconds` (1 to a day, as a reservation's time to live), renewed by the same lease id. */
  async acquireRun(caller: Caller, leaseId: string, ttlSeconds: number): Promise<AcquireResult> {
    // NaN or 1e20 would make an Invalid Date (a RangeError, not a refusal); -600 a slot already expired.
    checkTtlSeconds(ttlSeconds);
    const { tenantId } = callerOf(caller);
    return inTenant(this.p.db, tenantId, async (tx) => {
      const e = await this.p.entitlements.effective(tx, tenantId);
      return this.p.limits.acquireRun(tx, { tenantId, leaseId, expiresAt: new Date(this.p.clock.now().getTime() + ttlSeconds * 1000), limit: e.concurrentRuns });
    });
  }

  async releaseRun(caller: Caller, leaseId: string): Promise<boolean> {
    const { tenantId } = callerOf(caller);
    return inTenant(this.p.db, tenantId, (tx) => this.p.limits.releaseRun(tx, tenantId, leaseId));
  }

  /** The account as the next decision finds it: holds past their expiry are let go first, as the sweeper would (API.md: released at expiresAt). */
  async credits(tenantId: string): Promise<CreditBalance> {
    return inTenant(this.p.db, tenantId, async (tx) => {
      await this.refill(tx, tenantId);
      await this.p.reservations.expireDue(tx, tenantId);
      return this.p.credits.balance(tx, tenantId);
    });
  }

  async ledger(tenantId: string, q: { cursor?: string | undefined; limit?: number | undefined } = {}): Promise<{ entries: LedgerEntry[]; nextCursor: string | null }> {
    return inTenant(this.p.db, tenantId, (tx) => this.p.credits.ledger(tx, tenantId, { cursor: q.cursor, limit: q.limit ?? 50 }));
  }

  /**
   * Holds the operation's price (or `credits`) until settled, released or expired; once per
   * idempotency key. An operation named beside `credits` is not priced, but must exist: the
   * reservation records what it was for. Naming neither is an error, not a hold of nothing.
   */
  async reserve(caller: Caller, request: ReserveRequest): Promise<ReserveResult> {
    checkReserveRequest(request);
    const c = callerOf(caller);
    let amount = request.credits;
    let operation: string | undefined;
    if (request.operation !== undefined) {
      const found = this.p.plans.operation(request.operation);
      if (!found) throw new AppError('OPERATION_NOT_FOUND', `no operation named "${request.operation}"`);
      operation = found.name;
      amount ??= quote(this.p.plans, { operation: found.name, quantity: request.quantity, model: request.model }).credits;
    }
    if (amount === undefined) throw new AppError('VALIDATION_FAILED', 'name an operation, or the credits to hold');
    return inTenant(this.p.db, c.tenantId, async (tx) => {
      await this.refill(tx, c.tenantId);
      return this.p.reservations.reserve(tx, {
        tenantId: c.tenantId, amount, idempotencyKey: request.idempotencyKey, operation, model: request.model,
        quantity: request.quantity, ttlSeconds: request.ttlSeconds, actor: c.actor,
      });
    });
  }

  /** One reservation of the caller's tenant as a settle would find it now (one held past its expiry is expired first); undefined when it has none of that id. */
  async reservation(caller: Caller, id: string) {
    const { tenantId } = callerOf(caller);
    return inTenant(this.p.db, tenantId, (tx) => this.p.reservations.current(tx, tenantId, id));
  }

  async settle(caller: Caller, id: string, actual: { quantity?: Quantity | undefined; credits?: number | undefined } = {}): Promise<ResolveResult> {
    const c = callerOf(caller);
    return inTenant(this.p.db, c.tenantId, (tx) => this.p.reservations.settle(tx, c.tenantId, id, actual, c.actor));
  }

  async release(caller: Caller, id: string): Promise<ResolveResult> {
    const c = callerOf(caller);
    return inTenant(this.p.db, c.tenantId, (tx) => this.p.reservations.release(tx, c.tenantId, id, c.actor));
  }

  async refund(caller: Caller, r: { reservationId: string; amount: number; idempotencyKey: string; reason?: string | null }) {
    const c = callerOf(caller);
    return inTenant(this.p.db, c.tenantId, (tx) => this.p.reservations.refund(tx, { ...r, reason: r.reason ?? null, tenantId: c.tenantId, actor: c.actor }));
  }

  /** A top-up or correction by the embedding host (operators go through `adjust`). */
  async grant(caller: Caller, g: { amount: number; idempotencyKey: string; reason?: string | null }) {
    const c = callerOf(caller);
    return inTenant(this.p.db, c.tenantId, (tx) => this.p.credits.change(tx, {
      tenantId: c.tenantId, amount: g.amount, idempotencyKey: `grant:${g.idempotencyKey}`, reason: g.reason ?? null, actor: c.actor,
    }));
  }

  async adjust(operatorId: string, tenantId: string, a: { amount: number; reason: string; idempotencyKey: string }, ctx: CallContext = {}) {
    return inTenant(this.p.db, tenantId, (tx) => this.p.credits.adjust(tx, { ...a, tenantId, operatorId }, ctx));
  }

  /** Runs inside the transaction that creates a tenant: its credit account and the first grant of its plan. */
  async tenantCreated(tx: Executor, tenantId: string): Promise<void> {
    await this.p.credits.open(tx, tenantId);
    await this.refill(tx, tenantId);
  }

  /**
   * Expires reservations due at `at`, makes the subscriptions' time-driven transitions and
   * rolls ended self-renewing periods forward with their refill. The server calls it on an
   * interval; tests call it with their clock.
   */
  sweep(at: Date = this.p.clock.now()): Promise<{ expired: number; rolled: number; transitions: number }> {
    return sweep(this.p, at);
  }

  private async refill(tx: Executor, tenantId: string): Promise<void> {
    await this.p.periods.standing(tx, tenantId);
  }
}

function callerOf(caller: Caller): { tenantId: string; role: Role | null; actor: Actor } {
  if ('principal' in caller) return { tenantId: caller.tenantId, role: caller.role, actor: actorOf(caller) };
  return { tenantId: caller.tenantId, role: caller.role ?? null, actor: caller.actor ?? { type: 'system', id: null } };
}
