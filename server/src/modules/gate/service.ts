import type { Database } from '../../db/client.js';
import { isConcurrencyFailure } from '../../db/errors.js';
import type { Change } from '../../lib/changes.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { Principal, TenantAccess } from '../../lib/principal.js';
import { actingFor } from '../apikeys/index.js';
import { quote } from '../credits/index.js';
import type { RateOutcome } from '../ratelimit/index.js';
import { DecisionBatcher } from './batch.js';
import type { DecisionLog } from './log.js';
import { spell, type Metered, type Outcome, type PreError, type Shape } from './outcome.js';
import { DecisionRules, type Prepared, type RulesParts } from './prepare.js';
import { ANSWER_TTL_MS, RecentAnswers } from './recent-answers.js';
import { Compile } from 'typebox/compile';
import { DecisionSchema, type AuthorizeContext, type AuthorizeRequest, type Decision, type DecisionCode, type Route } from './schemas.js';
import type { TenantSnapshots } from './snapshot.js';
import { decide, type DecideEntry, type StatementAnswer, type StoredAnswer } from './statement.js';

export interface DecisionParts extends Omit<RulesParts, 'snapshots'> {
  database: Database;
  snapshots: TenantSnapshots;
  log: DecisionLog;
  /** The principal as its key's row stands now (apikeys' KeyResolver#current), after a stale answer. */
  currentPrincipal: (principal: Principal) => Promise<Principal>;
  /** Group commit (config `metering.groupCommit`); absent → a statement per decision. */
  groupCommit?: {
    onRefused: (error: unknown) => void;
    /** Told of every batch answered: its requests and seconds (for /metrics). */
    onBatch?: ((size: number, seconds: number) => void) | undefined;
  } | undefined;
}

/**
 * Requests per batch statement, batch statements in flight per process (on PostgreSQL each
 * on a connection of its own: the composition root opens that many for them; on PGlite
 * the second waits in the database's thread while the first runs, so that the server's
 * thread answers one batch and prepares the next meanwhile), and requests a second one
 * needs to start.
 */
const MAX_BATCH = 256;
export const MAX_IN_FLIGHT = 2;
const MIN_CONCURRENT_BATCH = 16;
const storedDecision = Compile(DecisionSchema);

/** Statements a decision may take: one that lost a deadlock or found its snapshot stale is made again. */
const MAX_ATTEMPTS = 3;

/**
 * The decision: credential → principal → tenant → standing → plan → module → model → rate
 * limit (DecisionRules, in this process, on cached state) → meters and credits (the
 * decision statement, which also checks that the cached state is current). A call is
 * decided by one statement, with others (group commit) or alone; a denial consumes nothing.
 */
export class DecisionService {
  private readonly rules: DecisionRules;
  private readonly batcher: DecisionBatcher | null;
  /** Meters the statement found full, per kind of call (recent-answers.ts). */
  private readonly fullMeters = new RecentAnswers<Metered>();
  /**
   * How decisions were made (each counted once, by its first statement): in a
   * group-commit batch, by a statement of its own (no group commit, or decided again after
   * the database refused its batch), or answered
   * from memory (a meter known full, a call past its rate limit); and how many batches
   * the database refused.
   */
  readonly paths = { batched: 0, alone: 0, fromMemory: 0, refusedBatches: 0 };
  /** Decisions answered, by code (replays included). */
  readonly codes: Partial<Record<DecisionCode, number>> = {};

  constructor(private readonly p: DecisionParts) {
    this.rules = new DecisionRules(p);
    const group = p.groupCommit;
    this.batcher = group ? new DecisionBatcher(p.database, {
      maxBatch: MAX_BATCH,
      maxInFlight: MAX_IN_FLIGHT,
      minConcurrentBatch: MIN_CONCURRENT_BATCH,
      now: () => p.clock.now(),
      onRefused: (error, conflict) => {
        this.paths.refusedBatches++;
        // A concurrency conflict is expected now and then; anything else is a fault.
        if (!conflict) group.onRefused(error);
      },
      onAnswered: group.onBatch,
    }) : null;
  }

  /** Requests waiting for a batch statement (for /metrics). */
  get queuedForBatch(): number {
    return this.batcher?.queued ?? 0;
  }

  async authorize(caller: Principal, request: AuthorizeRequest, ctx: AuthorizeContext = {}): Promise<Decision> {
    let principal = actingPrincipal(caller, request);
    const tenantId = await this.p.tenancy.tenantOf(principal, request.tenantId ?? ctx.tenantHeader);
    const cost = quote(this.p.plans, { operation: request.operation, quantity: request.quantity, model: request.model });
    if (request.module !== undefined && request.module !== cost.module) {
      throw new AppError('MODULE_MISMATCH', `operation "${cost.operation}" belongs to module "${cost.module}"`);
    }
    const decisionId = newId('dec', this.p.clock.now().getTime());
    for (let attempt = 1; ; attempt++) {
      // Where the changes stood before the state this call decides on was read: a change
      // heard meanwhile (a limit raised) keeps its answer from being remembered.
      const generation = this.fullMeters.generation;
      const prepared = await this.rules.prepare(principal, tenantId, cost, request, decisionId, ctx.requestId ?? null);
      const known = this.knownAnswer(prepared, request);
      if (known) {
        this.paths.fromMemory++;
        if (known.kind === 'error') throw new AppError(known.code);
        return this.finish(spell(prepared.shape, known), request, ctx);
      }
      const { answer, path } = await this.submit(prepared.entry);
      if (attempt === 1) this.paths[path]++;
      if (answer.verdict !== 'admit' && answer.verdict !== 'pre' && prepared.rate) await this.p.rateLimits.refund(prepared.rate);
      if (answer.verdict === 'stale') {
        // The state this process decided on moved: read it again, and decide again.
        if (attempt >= MAX_ATTEMPTS) throw new AppError('DATABASE_BUSY', 'the tenant kept changing while the call was decided');
        this.p.tenancy.forgetStale(tenantId, prepared.shape.principal.userId);
        this.p.snapshots.forget(tenantId);
        principal = await this.p.currentPrincipal(principal);
        continue;
      }
      this.p.snapshots.confirm(tenantId, this.p.clock.now().getTime());
      return this.finish(this.decisionOf(prepared, answer, request, generation), request, ctx, answer.verdict === 'admit' ? answer.at : undefined);
    }
  }

  /**
   * What this process may answer without the database, for a call without an
   * idempotency key (its answer must be kept): a meter the statement found full a moment
   * ago for the same kind of call is full still (counters only grow within a period); a
   * call past its rate limit, once the database confirmed the tenant's state within the
   * memory's time to live (so does meeting a fail-closed rate store that is down: an
   * outage costs a statement a second per tenant, not one per call). Only ever a refusal:
   * nothing admits from here.
   */
  private knownAnswer(prepared: Prepared, request: AuthorizeRequest): Outcome | PreError | undefined {
    if (request.idempotencyKey !== undefined) return undefined;
    const now = this.p.clock.now().getTime();
    const { pre, tenantId } = prepared;
    if (pre) {
      const rateAnswer = pre.kind === 'error' || pre.code === 'RATE_LIMITED';
      return rateAnswer && this.p.snapshots.confirmedWithin(tenantId, now, ANSWER_TTL_MS) ? pre : undefined;
    }
    return this.fullMeters.get(tenantId, kindOf(prepared.shape, request), now);
  }

  /** A call by statement: in a group-commit batch, else (or when the database refused its batch) alone. */
  private async submit(entry: DecideEntry): Promise<{ answer: StatementAnswer; path: 'batched' | 'alone' }> {
    if (this.batcher) {
      const answer = await this.batcher.submit(entry);
      if (!('refused' in answer)) return { answer, path: 'batched' };
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return { answer: (await decide(this.p.database, [entry], this.p.clock.now()))[0]!, path: 'alone' };
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !isConcurrencyFailure(error)) throw error;
      }
    }
  }

  private decisionOf(prepared: Prepared, answer: Exclude<StatementAnswer, { verdict: 'stale' }>, request: AuthorizeRequest, generation: number): Decision {
    switch (answer.verdict) {
      case 'conflict': throw new AppError('IDEMPOTENCY_CONFLICT');
      case 'replay': {
        const kept = keptDecision(answer.stored);
        // An answer is about its principal: another one of the tenant naming the same key is
        // not retrying that call, and must not be handed its admission (its own caps, rate
        // limit and role would never be asked) nor learn whose it was.
        if (!samePrincipal(kept.principal, prepared.shape.principal)) {
          throw new AppError('IDEMPOTENCY_CONFLICT', 'the idempotency key was used by another principal of the tenant');
        }
        return { ...kept, replayed: true };
      }
      case 'pre': {
        const pre = prepared.pre!;
        if (pre.kind === 'error') throw new AppError(pre.code);
        return spell(prepared.shape, pre);
      }
      case 'admit': {
        const outcome = answer.outcome;
        const tenantId = prepared.tenantId;
        if (outcome.fail === 0) this.fullMeters.forget(tenantId);
        else if ((outcome.fail === 1 || outcome.fail === 2) && request.idempotencyKey === undefined) {
          const now = this.p.clock.now().getTime();
          const periodEnd = Date.parse(prepared.shape.resetsAt!);
          this.fullMeters.remember(tenantId, kindOf(prepared.shape, request), outcome, now, periodEnd, generation);
        }
        return spell(prepared.shape, outcome);
      }
    }
  }

  /**
   * Settling and releasing draw from a bucket of the tenant's own, as big as its authorize
   * bucket (a plan's rateLimit wins): a backend may close every reservation it may open,
   * and closing spends nothing of what opening may use. The key's own limit applies on top.
   */
  async limitClosing(access: TenantAccess): Promise<RateOutcome> {
    const plan = (await this.p.snapshots.get(access.tenantId)).entitlements.plan;
    return this.p.rateLimits.consume(this.rules.rateChecks(access, plan, 'close'));
  }

  /** The route a call of the tenant with `model` would take now: the decision's own selection, on its snapshot of the tenant. */
  async routeOf(tenantId: string, model: string | undefined): Promise<Route> {
    const snapshot = await this.p.snapshots.get(tenantId);
    return this.p.routing.select(snapshot.entitlements.plan, snapshot.routes, model);
  }

  /** A change heard on the change feed (made here or in another process). */
  forget(change: Change): void {
    const tenantId = change.kind === 'tenant' ? change.id : change.kind === 'member' ? change.tenantId : change.kind === 'all' ? null : undefined;
    if (tenantId === undefined) return;
    this.fullMeters.changed(tenantId);
    this.p.snapshots.forget(tenantId);
  }

  /** `admittedAt`: the statement's instant, when it admitted the call (its reservation's created_at). */
  private finish(decision: Decision, request: AuthorizeRequest, ctx: AuthorizeContext, admittedAt?: Date): Decision {
    this.codes[decision.code] = (this.codes[decision.code] ?? 0) + 1;
    // An admission's reservation, written in its commit, is its record (0019): only its
    // day's count is left, on the reservation's own day so a recount always agrees.
    if (decision.allowed && admittedAt) {
      this.p.log.countAllowed(decision.tenant.id, admittedAt);
      return decision;
    }
    this.p.log.record({
      tenantId: decision.tenant.id, id: decision.replayed ? newId('dec', this.p.clock.now().getTime()) : decision.decisionId,
      principalType: decision.principal.type, principalId: decision.principal.id, userId: decision.principal.userId,
      operation: decision.operation.name, module: decision.operation.module, model: request.model ?? null,
      allowed: decision.allowed, code: decision.code, credits: decision.reservation?.credits ?? null,
      reservationId: decision.reservation?.id ?? null, bypass: decision.bypass, idempotencyKey: request.idempotencyKey ?? null,
      replayed: decision.replayed === true, requestId: ctx.requestId ?? null, createdAt: this.p.clock.now(), calls: 1,
    });
    return decision;
  }
}

/** An answer kept under an idempotency key, spelled: as kept since migration 0009, or as spelled before it. */
function keptDecision(stored: StoredAnswer): Decision {
  if (!('decision' in stored)) return spell({ ...stored.shape, route: keptRoute(stored.shape.route) }, stored.outcome);
  const decision = { ...stored.decision, route: keptRoute(stored.decision.route) };
  if (!storedDecision.Check(decision)) throw new Error('a kept decision does not match the decision\'s schema');
  return decision;
}

/** The same principal: its type, its id and the user it acts for (a role may change between a call and its retry). */
function samePrincipal(a: Decision['principal'], b: Decision['principal']): boolean {
  return a.type === b.type && a.id === b.id && a.userId === b.userId;
}

/**
 * The route of a kept answer: as kept since migration 0014; kept before, it was
 * `{provider}` alone, and every call ran on the platform's account then.
 */
function keptRoute(route: unknown): Route {
  const r = (route ?? {}) as Partial<Route>;
  if (typeof r.name === 'string' && (r.billing === 'tenant' || r.billing === 'platform')) return r as Route;
  return { provider: typeof r.provider === 'string' ? r.provider : 'default', name: 'platform', region: null, billing: 'platform' };
}

/** A service key acts for a user only when the body (or header) names one; nobody else may. */
function actingPrincipal(caller: Principal, request: AuthorizeRequest): Principal {
  if (request.onBehalfOf) return actingFor(caller, request.onBehalfOf);
  if (caller.type === 'api_key' && !caller.scopes.includes('authorize')) throw new AppError('INSUFFICIENT_SCOPE', 'the key needs the authorize scope');
  return caller;
}

/** Calls that meet the same meters: the same principal, operation and model of a tenant. */
function kindOf(shape: Shape, request: AuthorizeRequest): string {
  const p = shape.principal;
  return `${p.type}\u0000${p.id}\u0000${p.userId ?? ''}\u0000${shape.operation.name}\u0000${request.model ?? ''}`;
}
