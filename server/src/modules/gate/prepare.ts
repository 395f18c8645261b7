import type { RateScopeConfig } from '../../config-schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { principalId, type Principal, type Role, type TenantAccess } from '../../lib/principal.js';
import { canonicalQuantity, decisionHash, quote, type CostQuote } from '../credits/index.js';
import { modelAllowed } from '../entitlements/index.js';
import type { PlansService } from '../plans/index.js';
import { keyRateCheck, type RateCheck, type RateLimitService, type RateOutcome } from '../ratelimit/index.js';
import { actorOf, type Stamp, type TenancyService } from '../tenancy/index.js';
import type { RoutingService } from '../routing/index.js';
import type { PreError, Refused, Shape } from './outcome.js';
import type { AuthorizeRequest, Route } from './schemas.js';
import type { TenantSnapshots } from './snapshot.js';
import type { DecideEntry } from './statement.js';

export interface RulesParts {
  clock: Clock;
  plans: PlansService;
  tenancy: TenancyService;
  snapshots: TenantSnapshots;
  rateLimits: RateLimitService;
  authorizeScope: RateScopeConfig;
  rateLimitBypass: ReadonlySet<string>;
  /** Roles that pass a full meter, per meter (config `meters.*.bypassRoles`). */
  bypassRoles: Readonly<Record<string, readonly Role[]>>;
  reservationTtlSeconds: number;
  /** credits.low's threshold (config webhooks.creditsLowThreshold), which the statement applies (db/functions/events.sql). */
  creditsLowThreshold?: number | null | undefined;
  /** The one route selection (routing/select.ts). */
  routing: Pick<RoutingService, 'select'>;
}

/** A call the decision has made up its mind about as far as this process can. */
export interface Prepared {
  tenantId: string;
  shape: Shape;
  /** A refusal (or an outage) found here, before the meters; null when the meters decide. */
  pre: Refused | PreError | null;
  /** The rate points taken (to give back when the call is not decided after all: replayed, or decided again). */
  rate: RateCheck[] | null;
  entry: DecideEntry;
}

/**
 * The rules of the decision, each written once, applied in order to what this process
 * holds of the tenant (AccessCheck's state, TenantSnapshots): credential and tenant
 * standing, plan, module, model, rate limit; then what the meters must check, and the
 * stamp of the state all this was read from. The database checks the stamp and does the
 * counting (db/functions/decide.sql); nothing here consumes anything but rate points.
 */
export class DecisionRules {
  constructor(private readonly p: RulesParts) {}

  /** Throws what is an error of the call (a credential gone, a tenant it may not see); answers what is a decision. */
  async prepare(principal: Principal, tenantId: string, cost: CostQuote, request: AuthorizeRequest, decisionId: string, requestId: string | null): Promise<Prepared> {
    const { checked, stamp, plan } = await this.p.tenancy.checkTenantStamped(principal, tenantId);
    const idem = request.idempotencyKey ?? null;
    const common = { decisionId, idem, hash: idem === null ? null : idempotencyHash(cost, request), requestId };
    if (!checked.ok) {
      const check = checked.error === 'PAYMENT_REQUIRED' ? 'subscription' : 'tenant';
      if (checked.error !== 'TENANT_SUSPENDED' && checked.error !== 'TENANT_CLOSED' && checked.error !== 'PAYMENT_REQUIRED') throw new AppError(checked.error);
      // The plan as the checked state names it (the default plan for a tenant without a
      // subscription, as its entitlements would say): no snapshot is read for a refusal,
      // so `enterprise` (which an override may set) stays false.
      const tenant = { id: tenantId, plan: this.p.plans.ofSubscription(plan).id, enterprise: false };
      const shape = this.shapeOf(principal, null, tenant, cost, decisionId, this.p.routing.select(null, [], request.model));
      return this.refusal(principal, shape, { kind: 'refused', code: checked.error, refusedBy: { check } }, stamp, common, null);
    }
    const access = checked.value;
    const snapshot = await this.p.snapshots.get(tenantId);
    stamp.tenant = Math.min(stamp.tenant, snapshot.generation);
    const e = snapshot.entitlements;
    // The route, then the price on its account: an operation may cost otherwise on the tenant's own (cost.ownAccount).
    const route = this.p.routing.select(e.plan, snapshot.routes, request.model);
    if (route.billing === 'tenant') cost = quote(this.p.plans, { operation: cost.operation, quantity: request.quantity, model: request.model }, 'tenant');
    const shape = this.shapeOf(principal, access.role, { id: tenantId, plan: e.plan, enterprise: e.enterprise }, cost, decisionId, route);
    const refuse = (refused: Refused | PreError, rate: RateCheck[] | null = null) => this.refusal(principal, shape, refused, stamp, common, rate);
    if (!this.p.plans.get(e.plan)?.modules.includes(cost.module)) return refuse({ kind: 'refused', code: 'NOT_IN_PLAN', refusedBy: { check: 'plan', module: cost.module } });
    if (!e.modules[cost.module]) return refuse({ kind: 'refused', code: 'MODULE_DISABLED', refusedBy: { check: 'module', module: cost.module } });
    if (request.model !== undefined && !modelAllowed(e, request.model)) return refuse({ kind: 'refused', code: 'NOT_IN_PLAN', refusedBy: { check: 'model', model: request.model } });
    const checks = this.rateChecks(access, e.plan);
    const rate = await this.p.rateLimits.consume(checks);
    // An unreachable store on a fail-closed scope is an outage, not the tenant's doing: an
    // error (503), never a decision a retry would replay.
    if (!rate.allowed && rate.degraded === 'closed') return refuse({ kind: 'error', code: 'RATE_LIMIT_UNAVAILABLE' });
    if (!rate.allowed) return refuse(rateLimited(rate));

    const meter = cost.meter;
    const keyCap = principal.type === 'api_key' ? (principal.usageCap ?? null) : null;
    shape.meter = meter;
    shape.meterLimit = meter === null ? null : (e.limits[meter] ?? null);
    // The lineage's: a rotation's successor draws on the cap its predecessor did.
    shape.keyMeter = keyCap === null || principal.type !== 'api_key' ? null : `key:${principal.lineageId}`;
    shape.keyCap = keyCap;
    shape.runsLimit = e.concurrentRuns;
    shape.resetsAt = snapshot.period.end.toISOString();
    const at = this.p.clock.now().getTime();
    shape.reservation = { id: newId('res', at), expiresAt: new Date(at + this.p.reservationTtlSeconds * 1000).toISOString() };
    const model = request.model ?? null;
    const actor = actorOf(access);
    const mayBypass = meter !== null && access.role !== null && (this.p.bypassRoles[meter] ?? []).includes(access.role);
    const s = this.stamped(tenantId, principal, access.userId, stamp, common, shape);
    return {
      tenantId, shape, pre: null, rate: checks,
      // Every field named in one literal (no spread): built from one object shape, where a
      // spread followed by thirty properties was the costliest line of a decision in the profile.
      entry: {
        tid: s.tid, tgen: s.tgen, uid: s.uid, ugen: s.ugen, skid: s.skid, skgen: s.skgen, idem: s.idem, hash: s.hash, shape: s.shape,
        request_id: s.request_id, clow: s.clow, pre: null,
        meter, mlimit: shape.meterLimit, may_bypass: mayBypass,
        kmeter: shape.keyMeter, kcap: keyCap, runs: shape.runsLimit, cost: cost.credits,
        ps: snapshot.period.start.toISOString(), pe: shape.resetsAt, role: access.role,
        res_id: shape.reservation.id, res_key: reservationKeyOf(idem, decisionId), op: cost.operation, model, expires: shape.reservation.expiresAt,
        // Ids only for the rows the statement may write: a key cap's usage event (the meter's is the reservation), a bypass's audit entry.
        key_event_id: keyCap === null ? null : newId('evt', at),
        audit_id: mayBypass ? newId('aud', at) : null,
        actor_type: actor.type, actor_id: actor.id, route: shape.route, dec_id: decisionId,
        ptype: shape.principal.type, pid: shape.principal.id, puid: shape.principal.userId, module: cost.module,
      },
    };
  }

  /**
   * The tenant's bucket (the plan's rate, else the authorize scope's) for opening decisions
   * (`authorize`) or closing their reservations (`close`), and the key's own bucket on top.
   */
  rateChecks(access: TenantAccess, planId: string, purpose: 'authorize' | 'close' = 'authorize'): RateCheck[] {
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

  private refusal(principal: Principal, shape: Shape, refused: Refused | PreError, stamp: Stamp, common: Common, rate: RateCheck[] | null): Prepared {
    const s = this.stamped(shape.tenant.id, principal, shape.principal.userId, stamp, common, shape);
    return {
      tenantId: shape.tenant.id, shape, pre: refused, rate,
      entry: {
        tid: s.tid, tgen: s.tgen, uid: s.uid, ugen: s.ugen, skid: s.skid, skgen: s.skgen, idem: s.idem, hash: s.hash, shape: s.shape,
        request_id: s.request_id, clow: s.clow, pre: refused,
        meter: null, mlimit: null, may_bypass: false, kmeter: null, kcap: null, runs: null, cost: 0, ps: null, pe: null, role: null,
        res_id: null, res_key: null, op: shape.operation.name, model: null, expires: null,
        key_event_id: null, audit_id: null, actor_type: shape.principal.type, actor_id: shape.principal.id,
        route: null, dec_id: null, ptype: null, pid: null, puid: null, module: null,
      },
    };
  }

  /** The stamps and what is kept under the idempotency key. */
  private stamped(tenantId: string, principal: Principal, userId: string | null, stamp: Stamp, common: Common, shape: Shape) {
    const service = principal.type === 'service';
    return {
      tid: tenantId, tgen: stamp.tenant, uid: userId, ugen: userId === null ? null : stamp.user,
      skid: service ? principal.keyId : null, skgen: service ? (principal.generation ?? null) : null,
      idem: common.idem, hash: common.hash, shape: common.idem === null ? null : shape, request_id: common.requestId,
      clow: this.p.creditsLowThreshold ?? null,
    };
  }

  private shapeOf(principal: Principal, role: Role | null, tenant: Shape['tenant'], cost: CostQuote, decisionId: string, route: Route): Shape {
    return {
      decisionId, tenant, principal: principalView(principal, role), operation: { name: cost.operation, module: cost.module, credits: cost.credits },
      meter: null, meterLimit: null, keyMeter: null, keyCap: null, runsLimit: null, resetsAt: null, reservation: null, route,
    };
  }
}

interface Common { decisionId: string; idem: string | null; hash: string | null; requestId: string | null }

function rateLimited(rate: RateOutcome): Refused {
  return {
    kind: 'refused', code: 'RATE_LIMITED', refusedBy: { check: 'rate', ...(rate.scope ? { bucket: rate.scope } : {}) },
    retryAfterMs: rate.retryAfterMs ?? 1000, rateLimit: { limit: rate.limit, remaining: Math.max(0, rate.remaining), resetMs: rate.resetMs },
  };
}

/**
 * The fingerprint an idempotency key's answer is kept under: a retry must ask for the
 * same thing. Only calls with a key need it.
 */
function idempotencyHash(cost: CostQuote, request: AuthorizeRequest): string {
  return decisionHash({ operation: cost.operation, module: cost.module, model: request.model ?? null, quantity: canonicalQuantity(request.quantity) });
}

function principalView(principal: Principal, role: Role | null): Shape['principal'] {
  if (principal.type === 'user') return { type: 'user', id: principal.userId, userId: principal.userId, role };
  if (principal.type === 'api_key') return { type: 'api_key', id: principal.keyId, userId: null, role: null };
  return { type: 'service', id: principal.keyId, userId: principal.onBehalfOf?.userId ?? null, role };
}

/** An admission's reservation key: `authorize:` and the call's idempotency key, else its decision's id. */
export function reservationKeyOf(idem: string | null, decisionId: string): string {
  return `authorize:${idem ?? decisionId}`;
}

/** The call's idempotency key read back from its reservation's key (reservationKeyOf); null when it named none. */
export function callKeyOf(reservationKey: string, decisionId: string): string | null {
  return reservationKey === reservationKeyOf(null, decisionId) ? null : reservationKey.slice('authorize:'.length);
}
