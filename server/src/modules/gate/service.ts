import type { Database, Db, Executor } from '../../db/client.js';
import { isConcurrencyFailure } from '../../db/errors.js';
import { lockKey } from '../../db/locks.js';
import { inTenant } from '../../db/scope.js';
import type { RateScopeConfig } from '../../config-schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError, type ErrorCode } from '../../lib/errors.js';
import { anyGlobMatch } from '../../lib/glob.js';
import { newId } from '../../lib/ids.js';
import { principalId, type Principal, type TenantAccess } from '../../lib/principal.js';
import { resolveOnBehalfOf } from '../apikeys/index.js';
import type { Actor } from '../audit/index.js';
import { quote, requestHash, reservationHash, type CreditBalance, type Quantity, type ReservationsService } from '../credits/index.js';
import { CONCURRENT_RUNS, modelAllowed, type Entitlements } from '../entitlements/index.js';
import type { Bypass, LimitsService, MeterUsage } from '../limits/index.js';
import type { PlansService } from '../plans/index.js';
import { keyRateCheck, type RateCheck, type RateLimitService, type RateOutcome } from '../ratelimit/index.js';
import { actorOf, type Role, type TenancyService } from '../tenancy/index.js';
import type { Period } from '../billing/index.js';
import type { Change } from '../../lib/changes.js';
import { DecisionBatcher, type BatchAnswer, type BatchOutcome, type BatchRequest } from './batch.js';
import { RecentAnswers } from './recent-answers.js';
import type { DecisionLog } from './log.js';
import { decisionOf, limitView, rateLimitedOf, refusalOf, type CheckedStanding, type RequestShape } from './outcome.js';
import * as repo from './repo.js';

export interface AuthorizeRequest {
  operation: string;
  module?: string | undefined;
  model?: string | undefined;
  quantity?: Quantity | undefined;
  idempotencyKey?: string | undefined;
  /** User credentials only: which of the user's tenants. */
  tenantId?: string | undefined;
  /** Service keys only: the user of a tenant they act for. */
  onBehalfOf?: { tenantId: string; userId: string } | undefined;
}

export interface AuthorizeContext {
  requestId?: string | undefined;
  /** The Tollgate-Tenant header, for user credentials. */
  tenantHeader?: string | undefined;
}

/** The closed set of reasons a decision gives. Malformed calls are errors, not decisions. */
export type DecisionCode =
  | 'OK' | 'TENANT_SUSPENDED' | 'TENANT_CLOSED' | 'PAYMENT_REQUIRED' | 'MODULE_DISABLED' | 'NOT_IN_PLAN'
  | 'RATE_LIMITED' | 'LIMIT_EXCEEDED' | 'INSUFFICIENT_CREDITS';

export interface LimitView { meter: string; used: number; limit: number | null; remaining: number | null; resetsAt: string | null }

export interface Decision {
  allowed: boolean;
  code: DecisionCode;
  decisionId: string;
  tenant: { id: string; plan: string | null; enterprise: boolean };
  principal: { type: Principal['type']; id: string; userId: string | null; role: string | null };
  operation: { name: string; module: string; credits: number };
  limits: LimitView[];
  credits: CreditBalance | null;
  reservation: { id: string; credits: number; expiresAt: string } | null;
  bypass: Bypass | null;
  route: { provider: string };
  retryAfterMs?: number;
  replayed?: boolean;
}

/** What the decision needs of the metering core: period roll, refill and entitlements in one transaction. */
export interface Standing {
  standing(tx: Executor, tenantId: string): Promise<{ period: Period; entitlements: Entitlements }>;
  /** The period whose plan grant is known committed (ISO start), and telling it so. */
  grantSeen(tenantId: string): string | null;
  rememberGrant(tenantId: string, periodStart: string): void;
}

export interface GateParts {
  db: Db;
  clock: Clock;
  plans: PlansService;
  tenancy: TenancyService;
  standing: Standing;
  limits: LimitsService;
  reservations: ReservationsService;
  rateLimits: RateLimitService;
  log: DecisionLog;
  authorizeScope: RateScopeConfig;
  rateLimitBypass: ReadonlySet<string>;
  /** Roles that pass a full meter, per meter (config `meters.*.bypassRoles`). */
  bypassRoles: Readonly<Record<string, readonly Role[]>>;
  reservationTtlSeconds: number;
  /** Group commit (config `metering.groupCommit`); absent → one transaction per decision. */
  groupCommit?: {
    database: Database; pastDueGraceSeconds: number; onRefused: (error: unknown) => void;
    /** Told of every batch answered: its requests and seconds (for /metrics). */
    onBatch?: ((size: number, seconds: number) => void) | undefined;
  } | undefined;
}

/** A decision's inputs once the caller is known to act in the tenant. */
interface DecisionInput {
  decisionId: string; principal: Decision['principal']; cost: ReturnType<typeof quote>; access: TenantAccess;
  request: AuthorizeRequest; ctx: AuthorizeContext;
  /** The rate limiter's answer once asked, kept for a run of the transaction again after a deadlock. */
  rate?: RateOutcome;
}

/** Requests per batch statement, batch statements in flight per process, and requests a second one needs to start. */
const MAX_BATCH = 256;
const MAX_IN_FLIGHT = 2;
const MIN_CONCURRENT_BATCH = 16;
/** Runs of a reference-path decision that lost a deadlock or serialization conflict. */
const MAX_ATTEMPTS = 3;

/** Thrown inside the decision's transaction to roll back what it consumed; caught right outside. */
class Refusal extends Error {
  constructor(readonly decision: Decision) {
    super(decision.code);
  }
}

/**
 * The decision: credential → principal → tenant → tenant status → subscription →
 * module → plan and model → rate limit → usage limit → credit reservation. Everything
 * it consumes happens in one transaction, so a denial consumes nothing.
 */
export class GateService {
  private readonly batcher: DecisionBatcher | null;
  /** Meters the batch found full, per kind of request (recent-answers.ts). */
  private readonly fullMeters = new RecentAnswers<BatchOutcome>();
  /**
   * Kinds of request the batch found past the checks before the rate limit, with the
   * standing it found; null when learned from the store's outage, which shows no standing.
   */
  private readonly passedChecks = new RecentAnswers<CheckedStanding | null>();
  /**
   * How decisions were made: by a batch statement, alone (no group commit, or handed
   * back by the batch), or answered from memory (a meter known full, past the rate limit, or
   * the rate store down: RATE_LIMIT_UNAVAILABLE); and how many
   * batches the database refused (each request then decided alone).
   */
  readonly paths = { batched: 0, alone: 0, fromMemory: 0, refusedBatches: 0 };
  /** Decisions answered, by code (replays included). */
  readonly codes: Partial<Record<DecisionCode, number>> = {};

  constructor(private readonly p: GateParts) {
    const group = p.groupCommit;
    if (!group) {
      this.batcher = null;
      return;
    }
    const plans = Object.fromEntries(p.plans.list().map((plan) => [plan.id, {
      modules: plan.modules, limits: plan.limits, concurrentRuns: plan.concurrentRuns, enterprise: plan.enterprise, creditsPerPeriod: plan.creditsPerPeriod,
    }]));
    const fixed = { plans, defaultPlan: p.plans.defaultPlan().id, pastDueGraceSeconds: group.pastDueGraceSeconds };
    this.batcher = new DecisionBatcher(group.database, {
      maxBatch: MAX_BATCH,
      maxInFlight: group.database.kind === 'pglite' ? 1 : MAX_IN_FLIGHT,
      minConcurrentBatch: MIN_CONCURRENT_BATCH,
      context: () => ({ ...fixed, now: p.clock.now().toISOString() }),
      onRefused: (error, conflict) => {
        this.paths.refusedBatches++;
        // A concurrency conflict is expected now and then; anything else is a fault.
        if (!conflict) group.onRefused(error);
      },
      onAnswered: group.onBatch,
    });
  }

  /** Requests waiting for a batch statement (for /metrics). */
  get queuedForBatch(): number {
    return this.batcher?.queued ?? 0;
  }

  async authorize(caller: Principal, request: AuthorizeRequest, ctx: AuthorizeContext = {}): Promise<Decision> {
    const principal = this.actingPrincipal(caller, request);
    const tenantId = await this.tenantOf(principal, request, ctx);
    const cost = quote(this.p.plans, { operation: request.operation, quantity: request.quantity, model: request.model });
    if (request.module !== undefined && request.module !== cost.module) {
      throw new AppError('MODULE_MISMATCH', `operation "${cost.operation}" belongs to module "${cost.module}"`);
    }
    const decisionId = newId('dec', this.p.clock.now().getTime());
    const checked = await this.p.tenancy.checkTenant(principal, tenantId);
    if (!checked.ok) {
      if (isDecisionDenial(checked.error)) {
        const decision = refusalOf(decisionId, checked.error, { id: tenantId, plan: null, enterprise: false }, principalView(principal, null), operationOf(cost));
        return this.finish(decision, request, ctx);
      }
      throw new AppError(checked.error);
    }
    const access = checked.value;
    const base: DecisionInput = { decisionId, principal: principalView(principal, access.role), cost, access, request, ctx };
    if (!this.batcher) return this.finish(await this.decideAlone(base), request, ctx);
    const checks = this.rateChecks(access, await this.planOf(tenantId));
    const rate = await this.p.rateLimits.consume(checks);
    const shape = this.requestShape(base);
    const now = this.p.clock.now().getTime();
    // What the batch answered a moment ago for the same kind of request (recent-answers.ts):
    // a full meter is full still, and a call past its rate limit (or meeting a rate store
    // that is down) is answered as the batch would answer it. Calls with an idempotency key
    // go to the batch, which keeps their answer. Looked up before the batch request is made:
    // a tenant hammering past its quota or its rate costs no hashing, no ids and no statement.
    const kind = request.idempotencyKey === undefined ? requestKind(access, cost.operation, request.model) : null;
    const known = kind === null ? undefined : this.knownAnswer(shape, kind, rate, now);
    if (known) {
      this.paths.fromMemory++;
      if (known instanceof AppError) throw known;
      return this.finish(known, request, ctx);
    }
    const batched = this.batchRequest(shape, base, rate);
    const generations = { full: this.fullMeters.generation, passed: this.passedChecks.generation };
    const answer = await this.batcher.submit(batched);
    // The batch asks the limiter first; the reference path only after the tenant, plan and
    // module checks. What those checks answered gives its point back, and so does what
    // the batch hands to the reference path, which asks the limiter at its own point.
    if (rate.allowed && ('slow' in answer || answeredBeforeRate(answer))) await this.p.rateLimits.refund(checks);
    if (!('slow' in answer)) this.paths.batched++;
    if ('outcome' in answer) {
      const o = answer.outcome;
      if (o.fail === 0) this.p.standing.rememberGrant(tenantId, o.periodStart.toISOString());
      if (kind !== null) {
        const end = o.periodEnd.getTime();
        this.passedChecks.remember(tenantId, kind, { plan: o.plan, enterprise: o.enterprise, role: o.role }, now, end, generations.passed);
        if (o.fail === 1 || o.fail === 2) this.fullMeters.remember(tenantId, kind, o, now, end, generations.full);
      }
      return this.finish(decisionOf(batched, o), request, ctx);
    }
    if ('decision' in answer && kind !== null && answer.decision.code === 'RATE_LIMITED') {
      // Refused at the rate limit: everything before it passed.
      const d = answer.decision as unknown as Decision;
      this.passedChecks.remember(tenantId, kind, { plan: d.tenant.plan, enterprise: d.tenant.enterprise, role: d.principal.role }, now, Infinity, generations.passed);
    }
    if ('error' in answer && kind !== null && answer.error === 'RATE_LIMIT_UNAVAILABLE') {
      // The store was down past every earlier check: calls of this kind meet the same outage.
      this.passedChecks.remember(tenantId, kind, null, now, Infinity, generations.passed);
    }
    if ('decision' in answer) return this.finish(answer.decision as unknown as Decision, request, ctx);
    if ('replay' in answer) return this.finish({ ...(answer.replay as unknown as Decision), replayed: true }, request, ctx);
    if ('error' in answer) throw new AppError(answer.error as ErrorCode);
    // A period to roll or a grant to write first: the reference path.
    return this.finish(await this.decideAlone(base), request, ctx);
  }

  /**
   * The reference path: the decision as one transaction of its own (also where the batch
   * hands over what it cannot do). A transaction that lost a deadlock or a serialization
   * conflict (a period grant racing a batch on the same tenant takes the rows in another
   * order) was rolled back whole and runs again, up to three times in all.
   */
  private async decideAlone(base: DecisionInput): Promise<Decision> {
    this.paths.alone++;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.decideAloneOnce(base);
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !isConcurrencyFailure(error)) throw error;
      }
    }
  }

  private decideAloneOnce(base: DecisionInput): Promise<Decision> {
    const { access, request, cost } = base;
    const tenantId = access.tenantId;
    const hash = idempotencyHash(cost, request);
    return inTenant(this.p.db, tenantId, async (tx) => {
      const key = request.idempotencyKey;
      // Under the key's lock (as the batch takes it first): a twin's answer is committed.
      if (key && hash) await lockKey(tx, tenantId, `authorize:${key}`);
      // The caches answered before; the database answers now, in this transaction, so a
      // revocation or suspension made a moment ago in another process is honoured here.
      // The credential first: a key revoked or a user gone gets no stored answer either.
      const fresh = await this.p.tenancy.recheckTenant(tx, access);
      if (!fresh.ok && !isDecisionDenial(fresh.error)) throw new AppError(fresh.error);
      if (key && hash) {
        const previous = await repo.findReplay(tx, tenantId, key);
        if (previous) {
          if (previous.requestHash !== hash) throw new AppError('IDEMPOTENCY_CONFLICT');
          return { ...(previous.decision as unknown as Decision), replayed: true };
        }
      }
      let outcome: Decision;
      try {
        // A savepoint: a refusal rolls back what the decision consumed, not the lock above.
        outcome = await tx.transaction((sp) => this.decide(sp, base, fresh));
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        outcome = error.decision;
      }
      // Still under the key's lock: a retry sees this answer, allowed or refused.
      if (key && hash) await repo.insertReplay(tx, { tenantId, idempotencyKey: key, requestHash: hash, decision: outcome as unknown as Record<string, unknown>, createdAt: this.p.clock.now() });
      return outcome;
    });
  }

  /** What the decision says of the request, whichever way it is decided. */
  private requestShape(d: DecisionInput): RequestShape {
    const { access, cost } = d;
    const principal = access.principal;
    return {
      tenantId: access.tenantId, keyId: principal.type === 'user' ? null : principal.keyId, userId: access.userId,
      decisionId: d.decisionId, principal: d.principal, operation: operationOf(cost), meter: cost.meter,
      keyCap: principal.type === 'api_key' ? (principal.usageCap ?? null) : null,
      credits: cost.credits,
    };
  }

  /**
   * What this process can answer without the database: a refusal (the meter was found
   * full, or, the call being past its rate limit, the checks before the limiter were found
   * passed), or, for a kind of request found past those checks, the outage of a
   * fail-closed rate store that cannot answer: the batch would answer RATE_LIMIT_UNAVAILABLE
   * too, and a store outage should not send every call to the database.
   */
  private knownAnswer(shape: RequestShape, kind: string, rate: RateOutcome, now: number): Decision | AppError | undefined {
    if (rate.allowed) {
      const full = this.fullMeters.get(shape.tenantId, kind, now);
      return full && decisionOf(shape, full);
    }
    const passed = this.passedChecks.get(shape.tenantId, kind, now);
    if (passed === undefined) return undefined;
    if (rate.degraded === 'closed') return new AppError('RATE_LIMIT_UNAVAILABLE');
    // Learned from an outage, without the standing a RATE_LIMITED decision shows: the batch spells it.
    return passed === null ? undefined : rateLimitedOf(shape, passed, rate.retryAfterMs ?? 1000);
  }

  /** Everything the batch statement needs for one request; ids and the reservation's expiry are made here. */
  private batchRequest(shape: RequestShape, d: DecisionInput, rate: RateOutcome): BatchRequest {
    const { access, cost, request } = d;
    const principal = access.principal;
    const at = this.p.clock.now().getTime();
    const model = request.model ?? null;
    return {
      ...shape, principalType: principal.type, issuedAt: principal.type === 'user' ? (principal.issuedAt ?? null) : null,
      absent: principal.type === 'service' ? 'ON_BEHALF_OF_NOT_MEMBER' : 'TENANT_NOT_FOUND',
      idempotencyKey: request.idempotencyKey ?? null, hash: idempotencyHash(cost, request), module: cost.module,
      bypassRoles: cost.meter ? (this.p.bypassRoles[cost.meter] ?? []) : [],
      modelPlans: request.model === undefined ? null : this.p.plans.list().filter((p) => anyGlobMatch(p.models, request.model!)).map((p) => p.id),
      rate: rate.allowed ? 'ok' : rate.degraded === 'closed' ? 'unavailable' : 'limited',
      retryAfterMs: rate.retryAfterMs ?? 1000,
      reservation: {
        id: newId('res', at), key: `authorize:${request.idempotencyKey ?? d.decisionId}`,
        hash: reservationHash({ amount: cost.credits, operation: cost.operation, model, quantity: request.quantity }),
        operation: cost.operation, model, expiresAt: new Date(at + this.p.reservationTtlSeconds * 1000).toISOString(),
      },
      ids: { event: newId('evt', at), keyEvent: newId('evt', at), ledger: newId('led', at), audit: newId('aud', at) },
      actor: actorOf(access), requestId: d.ctx.requestId ?? null, grantedPeriod: this.p.standing.grantSeen(access.tenantId),
    };
  }

  /** The plan that picks the tenant's rate bucket: the cached subscription's, as entitlements read it. */
  private async planOf(tenantId: string): Promise<string> {
    return this.p.plans.ofSubscription(await this.p.tenancy.cachedPlan(tenantId)).id;
  }

  /** A service key acts for a user only when the body (or header) names one; nobody else may. */
  private actingPrincipal(caller: Principal, request: AuthorizeRequest): Principal {
    if (request.onBehalfOf) {
      const acting = resolveOnBehalfOf(caller, request.onBehalfOf);
      if (!acting.ok) throw new AppError(acting.error);
      return acting.value;
    }
    if (caller.type === 'api_key' && !caller.scopes.includes('authorize')) throw new AppError('INSUFFICIENT_SCOPE', 'the key lacks the authorize scope');
    return caller;
  }

  /** The tenant comes from the credential; a user may pick one of their tenants. */
  private tenantOf(principal: Principal, request: AuthorizeRequest, ctx: AuthorizeContext): Promise<string> {
    return this.p.tenancy.tenantOf(principal, request.tenantId ?? ctx.tenantHeader);
  }

  /** `fresh`: the tenant and principal as the transaction read them (decideAloneOnce). */
  private async decide(tx: Executor, d: DecisionInput, fresh: Awaited<ReturnType<TenancyService['recheckTenant']>>): Promise<Decision> {
    const { access, request, cost } = d;
    const tenantId = access.tenantId;
    if (!fresh.ok) {
      if (isDecisionDenial(fresh.error)) {
        throw new Refusal(refusalOf(d.decisionId, fresh.error, { id: tenantId, plan: null, enterprise: false }, d.principal, operationOf(cost)));
      }
      throw new AppError(fresh.error);
    }
    const role = fresh.value.role;
    d.principal.role = role;
    const { period, entitlements: e } = await this.p.standing.standing(tx, tenantId);
    const tenant = { id: tenantId, plan: e.plan, enterprise: e.enterprise };
    const refuse = (code: DecisionCode, extra: Partial<Decision> = {}): never => {
      throw new Refusal({ ...refusalOf(d.decisionId, code, tenant, d.principal, operationOf(cost)), ...extra });
    };

    if (!this.p.plans.get(e.plan)?.modules.includes(cost.module)) refuse('NOT_IN_PLAN');
    if (!e.modules[cost.module]) refuse('MODULE_DISABLED');
    if (request.model !== undefined && !modelAllowed(e, request.model)) refuse('NOT_IN_PLAN');

    const rate = d.rate ?? await this.p.rateLimits.consume(this.rateChecks(access, e.plan));
    // Kept for a run of this transaction again after a deadlock: one token per decision.
    d.rate = rate;
    // An unreachable store on a fail-closed scope is an outage, not the tenant's doing: an
    // error (503), never a decision a retry would replay.
    if (!rate.allowed && rate.degraded === 'closed') throw new AppError('RATE_LIMIT_UNAVAILABLE');
    if (!rate.allowed) refuse('RATE_LIMITED', { retryAfterMs: rate.retryAfterMs ?? 1000 });

    const actor: Actor = actorOf(access);
    const limits: LimitView[] = [];
    let bypass: Bypass | null = null;
    if (cost.meter) {
      const consumed = await this.p.limits.consume(tx, {
        tenantId, meter: cost.meter, amount: 1, limit: e.limits[cost.meter] ?? null, period, role, actor, requestId: d.ctx.requestId,
      });
      if (!consumed.ok) refuse('LIMIT_EXCEEDED', { limits: [meterView(consumed.error.usage)] });
      else {
        limits.push(meterView(consumed.value.usage));
        bypass = consumed.value.bypass;
      }
    }
    const principal = access.principal;
    if (principal.type === 'api_key' && principal.usageCap != null) {
      const capped = await this.p.limits.consume(tx, {
        tenantId, meter: `key:${principal.keyId}`, amount: 1, limit: principal.usageCap, period, role: null, actor, requestId: d.ctx.requestId,
      });
      if (!capped.ok) refuse('LIMIT_EXCEEDED', { limits: [...limits, meterView(capped.error.usage)] });
      else limits.push(meterView(capped.value.usage));
    }

    const reserved = await this.p.reservations.reserve(tx, {
      tenantId, amount: cost.credits, idempotencyKey: `authorize:${request.idempotencyKey ?? d.decisionId}`, operation: cost.operation,
      model: request.model ?? null, quantity: request.quantity, actor,
    });
    // The run slot is leased under the reservation's id, so settling or releasing it frees the slot.
    const leaseId = reserved.ok ? reserved.value.reservation.id : d.decisionId;
    const expiresAt = reserved.ok ? new Date(reserved.value.reservation.expiresAt) : new Date(this.p.clock.now().getTime() + 60_000);
    const lease = await this.p.limits.acquireRun(tx, { tenantId, leaseId, expiresAt, limit: e.concurrentRuns });
    if (!lease.ok) {
      refuse('LIMIT_EXCEEDED', { limits: [...limits, { meter: CONCURRENT_RUNS, used: lease.error.active, limit: lease.error.limit, remaining: 0, resetsAt: null }] });
    } else if (e.concurrentRuns !== null) {
      limits.push(limitView(CONCURRENT_RUNS, lease.value.active, e.concurrentRuns, null));
    }
    if (!reserved.ok) return refuse('INSUFFICIENT_CREDITS', { limits, credits: reserved.error.credits });
    const r = reserved.value;
    const decision: Decision = {
      allowed: true, code: 'OK', decisionId: d.decisionId, tenant, principal: d.principal,
      operation: operationOf(cost),
      limits, credits: r.credits,
      reservation: { id: r.reservation.id, credits: r.reservation.credits, expiresAt: r.reservation.expiresAt },
      bypass, route: { provider: 'default' },
    };
    return decision;
  }

  /**
   * Settling and releasing draw from a bucket of the tenant's own, as big as its authorize
   * bucket (a plan's rateLimit wins): a backend may close every reservation it may open,
   * and closing spends nothing of what opening may use. The key's own limit applies on top.
   */
  async limitClosing(access: TenantAccess): Promise<RateOutcome> {
    return this.p.rateLimits.consume(this.rateChecks(access, await this.planOf(access.tenantId), 'close'));
  }

  /**
   * The tenant's bucket (the plan's rate, else the authorize scope's) for opening decisions
   * (`authorize`) or closing their reservations (`close`), and the key's own bucket on top.
   */
  private rateChecks(access: TenantAccess, planId: string, purpose: 'authorize' | 'close' = 'authorize'): RateCheck[] {
    const principal = access.principal;
    if (this.p.rateLimitBypass.has(principalId(principal))) return [];
    const planRate = this.p.plans.get(planId)?.rateLimit;
    const tenantRule = planRate
      ? { scope: `tenant:${purpose}:plan`, limit: planRate.limit, windowSeconds: planRate.windowSeconds, failMode: this.p.authorizeScope.failMode }
      : { scope: `tenant:${purpose}`, ...this.p.authorizeScope };
    const checks: RateCheck[] = [{ rule: tenantRule, subject: access.tenantId }];
    const keyCheck = keyRateCheck(principal, this.p.authorizeScope.failMode);
    if (keyCheck) checks.push(keyCheck);
    return checks;
  }

  /** A change heard on the change feed (made here or in another process). */
  forget(change: Change): void {
    const tenantId = change.kind === 'tenant' ? change.id : change.kind === 'member' ? change.tenantId : null;
    this.fullMeters.changed(tenantId);
    this.passedChecks.changed(tenantId);
  }

  private finish(decision: Decision, request: AuthorizeRequest, ctx: AuthorizeContext): Decision {
    if (decision.allowed) this.fullMeters.forget(decision.tenant.id);
    this.codes[decision.code] = (this.codes[decision.code] ?? 0) + 1;
    this.p.log.record({
      tenantId: decision.tenant.id, id: decision.replayed ? newId('dec', this.p.clock.now().getTime()) : decision.decisionId,
      principalType: decision.principal.type, principalId: decision.principal.id, userId: decision.principal.userId,
      operation: decision.operation.name, module: decision.operation.module, model: request.model ?? null,
      allowed: decision.allowed, code: decision.code, credits: decision.reservation?.credits ?? null,
      reservationId: decision.reservation?.id ?? null, bypass: decision.bypass, idempotencyKey: request.idempotencyKey ?? null,
      replayed: decision.replayed === true, requestId: ctx.requestId ?? null, createdAt: this.p.clock.now(),
    });
    return decision;
  }
}

/** Requests that pass the same checks before the meters: the same principal, operation and model of a tenant. */
function requestKind(access: TenantAccess, operation: string, model: string | undefined): string {
  const principal = access.principal;
  const keyId = principal.type === 'user' ? '' : principal.keyId;
  return `${principal.type}\u0000${keyId}\u0000${access.userId ?? ''}\u0000${operation}\u0000${model ?? ''}`;
}

/**
 * The fingerprint an idempotency key's answer is kept under: a retry must ask for the
 * same thing. Only calls with a key need it.
 */
function idempotencyHash(cost: ReturnType<typeof quote>, request: AuthorizeRequest): string | null {
  if (request.idempotencyKey === undefined) return null;
  return requestHash({ operation: cost.operation, module: cost.module, model: request.model ?? null, quantity: request.quantity ?? null });
}

/** Answers the reference path gives before it consults the rate limiter: replays, errors of the call, standing, plan and module refusals. */
function answeredBeforeRate(answer: BatchAnswer): boolean {
  if ('replay' in answer || 'error' in answer) return true;
  if (!('decision' in answer)) return false;
  const code = String((answer.decision as { code?: unknown }).code);
  return isDecisionDenial(code) || code === 'NOT_IN_PLAN' || code === 'MODULE_DISABLED';
}

/** Tenant refusals that are answers (allowed: false), as opposed to errors of the call. */
function isDecisionDenial(code: string): code is 'TENANT_SUSPENDED' | 'TENANT_CLOSED' | 'PAYMENT_REQUIRED' {
  return code === 'TENANT_SUSPENDED' || code === 'TENANT_CLOSED' || code === 'PAYMENT_REQUIRED';
}

/** The operation as a decision names it. */
function operationOf(cost: ReturnType<typeof quote>): Decision['operation'] {
  return { name: cost.operation, module: cost.module, credits: cost.credits };
}

function principalView(principal: Principal, role: string | null): Decision['principal'] {
  if (principal.type === 'user') return { type: 'user', id: principal.userId, userId: principal.userId, role };
  if (principal.type === 'api_key') return { type: 'api_key', id: principal.keyId, userId: null, role: null };
  return { type: 'service', id: principal.keyId, userId: principal.onBehalfOf?.userId ?? null, role };
}

function meterView(usage: MeterUsage): LimitView {
  return { meter: usage.meter, used: usage.used, limit: usage.limit, remaining: usage.remaining, resetsAt: usage.resetsAt };
}
