import { CONCURRENT_RUNS } from '../entitlements/index.js';
import type { Decision, DecisionCode, LimitView, RefusedBy, Route } from './schemas.js';

/**
 * What the decision knows of a call before the database has answered: the tenant as its
 * snapshot stands, the principal with its role, the operation and its price, the meters
 * it counts against and their limits, and what an admission would be made of. Kept with an
 * answer given under an idempotency key, so that a replay is spelled as the first answer.
 */
export interface Shape {
  decisionId: string;
  tenant: Decision['tenant'];
  principal: Decision['principal'];
  operation: Decision['operation'];
  /** The plan's meter the operation counts against, and the key's own (`key:<id>`, with its usage cap). */
  meter: string | null;
  meterLimit: number | null;
  keyMeter: string | null;
  keyCap: number | null;
  /** The concurrent-run limit; null: unlimited. */
  runsLimit: number | null;
  /** When the meters reset: the period's end (ISO). */
  resetsAt: string | null;
  /** The reservation an admission makes (its id and expiry are decided up front). */
  reservation: { id: string; expiresAt: string } | null;
  route: Route;
}

/** A call refused before the meters (standing, plan, module, model, rate): it touched no limit, credit or reservation. */
export interface Refused {
  kind: 'refused';
  code: Exclude<DecisionCode, 'OK' | 'LIMIT_EXCEEDED' | 'INSUFFICIENT_CREDITS'>;
  refusedBy: RefusedBy;
  retryAfterMs?: number;
  rateLimit?: Decision['rateLimit'];
}

/**
 * How a call that reached the meters came out (db/functions/decide.sql): `fail` 0
 * admitted, 1 the meter, 2 the key's meter, 3 concurrent runs, 4 credits; the counts as
 * far as it got (a refusal shows what is used, not what it would have made), and the
 * account after it.
 */
export interface Metered {
  kind: 'metered';
  fail: 0 | 1 | 2 | 3 | 4;
  meterUsed: number | null;
  keyUsed: number | null;
  runsUsed: number | null;
  balance: number | null;
  reserved: number | null;
  bypass: boolean | null;
}

export type Outcome = Refused | Metered;

/**
 * An error of the call found before the meters that still needs the database's word that
 * the tenant's state is current (a fail-closed rate store that is down): a 503, never a
 * decision, so never kept under an idempotency key.
 */
export interface PreError { kind: 'error'; code: 'RATE_LIMIT_UNAVAILABLE' }

/** The one spelling of a decision: the call's shape and how it came out, replays included. */
export function spell(shape: Shape, outcome: Outcome): Decision {
  const base = {
    decisionId: shape.decisionId, tenant: { ...shape.tenant }, principal: { ...shape.principal }, operation: { ...shape.operation },
    route: { ...shape.route },
  };
  if (outcome.kind === 'refused') {
    const { code, refusedBy, retryAfterMs, rateLimit } = outcome;
    return {
      allowed: false, code, ...base, limits: [], credits: null, reservation: null, bypass: null, refusedBy, message: messageOf(code, refusedBy),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }), ...(rateLimit === undefined ? {} : { rateLimit }),
    };
  }
  const o = outcome;
  const limits: LimitView[] = [];
  if (shape.meter !== null) limits.push(limitView(shape.meter, o.meterUsed ?? 0, shape.meterLimit, shape.resetsAt));
  if (shape.keyMeter !== null && o.fail !== 1) limits.push(limitView(shape.keyMeter, o.keyUsed ?? 0, shape.keyCap, shape.resetsAt));
  if (shape.runsLimit !== null && o.fail !== 1 && o.fail !== 2) limits.push(limitView(CONCURRENT_RUNS, o.runsUsed ?? 0, shape.runsLimit, null));
  const credits = o.balance === null || o.reserved === null ? null : { balance: o.balance, reserved: o.reserved, available: o.balance - o.reserved };
  if (o.fail === 0) {
    if (!shape.reservation) throw new Error('an admitted outcome for a call that made no reservation');
    const role = shape.principal.role;
    return {
      allowed: true, code: 'OK', ...base, limits, credits,
      reservation: { id: shape.reservation.id, credits: shape.operation.credits, expiresAt: shape.reservation.expiresAt },
      bypass: bypassOf(o.bypass, role, shape.meter),
    };
  }
  const refusedBy: RefusedBy = o.fail === 4 ? { check: 'credits' } : { check: 'limit', meter: [shape.meter, shape.keyMeter, CONCURRENT_RUNS][o.fail - 1]! };
  const code = o.fail === 4 ? 'INSUFFICIENT_CREDITS' : 'LIMIT_EXCEEDED';
  return {
    allowed: false, code, ...base, limits, credits: o.fail === 4 ? credits : null, reservation: null, bypass: null,
    refusedBy, message: messageOf(code, refusedBy),
  };
}

/** A refusal in words. */
function messageOf(code: DecisionCode, by: RefusedBy): string {
  switch (code) {
    case 'TENANT_SUSPENDED': return 'The tenant is suspended.';
    case 'TENANT_CLOSED': return 'The tenant is closed.';
    case 'PAYMENT_REQUIRED': return 'The subscription is not paid: pending payment, past due beyond its grace, suspended, canceled, or a trial that ended.';
    case 'NOT_IN_PLAN': return by.model ? `The plan does not allow the model "${by.model}".` : `The module "${by.module}" is not in the plan.`;
    case 'MODULE_DISABLED': return `The module "${by.module}" is switched off for the tenant.`;
    case 'RATE_LIMITED': return `Too many calls: the ${by.bucket ?? 'rate'} bucket is empty; retry after retryAfterMs.`;
    case 'LIMIT_EXCEEDED': return by.meter === CONCURRENT_RUNS
      ? 'Every concurrent-run slot is taken; settle or release a reservation first.'
      : `The ${by.meter?.startsWith('key:') ? 'key\'s usage cap' : `"${by.meter}" limit`} is reached for this period.`;
    case 'INSUFFICIENT_CREDITS': return 'The available credits do not cover the operation\'s price.';
    default: return code;
  }
}

/** One line of a decision's `limits`. */
export function limitView(meter: string, used: number, limit: number | null, resetsAt: string | null): LimitView {
  return { meter, used, limit, remaining: limit === null ? null : Math.max(0, limit - used), resetsAt };
}

/** A decision's bypass as it is answered (and listed): past a full meter by the principal's role. */
export function bypassOf<R extends string>(bypass: boolean | null, role: R | null, meter: string | null): { reason: R; meter: string } | null {
  return bypass && role !== null && meter !== null ? { reason: role, meter } : null;
}
