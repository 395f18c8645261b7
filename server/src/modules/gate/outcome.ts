import { CONCURRENT_RUNS } from '../entitlements/index.js';
import type { Role } from '../tenancy/index.js';
import type { BatchOutcome, BatchRequest } from './batch.js';
import type { Decision, DecisionCode, LimitView } from './service.js';

/** What a decision says about the request itself; a refusal from memory knows only this much. */
export type RequestShape = Pick<BatchRequest, 'tenantId' | 'decisionId' | 'principal' | 'operation' | 'meter' | 'keyCap' | 'keyId' | 'userId' | 'credits'>;

/**
 * The decision a batch outcome stands for, spelled as the reference path spells it
 * (GateService#decide). tollgate_decide spells the same decision for the requests whose
 * answer it keeps under an idempotency key; the property test in group-commit.test.ts
 * compares both with the reference path.
 */
export function decisionOf(request: RequestShape & { reservation?: BatchRequest['reservation'] }, o: BatchOutcome): Decision {
  const resetsAt = o.periodEnd.toISOString();
  const limits: LimitView[] = [];
  if (request.meter !== null) limits.push(limitView(request.meter, o.meterUsed ?? 0, o.meterLimit, resetsAt));
  if (request.keyCap !== null && o.fail !== 1) limits.push(limitView(`key:${request.keyId}`, o.keyUsed ?? 0, o.keyCap, resetsAt));
  if (o.runsLimit !== null && o.fail !== 1 && o.fail !== 2) limits.push(limitView(CONCURRENT_RUNS, o.runsUsed ?? 0, o.runsLimit, null));
  const principal = principalWithRole(request, o.role);
  const admitted = o.fail === 0;
  // Only a request sent to the batch has a reservation to be admitted with.
  if (admitted && !request.reservation) throw new Error('an admitted outcome for a request that made no reservation');
  return {
    allowed: admitted,
    code: admitted ? 'OK' : o.fail === 4 ? 'INSUFFICIENT_CREDITS' : 'LIMIT_EXCEEDED',
    decisionId: request.decisionId,
    tenant: { id: request.tenantId, plan: o.plan, enterprise: o.enterprise },
    principal,
    operation: { ...request.operation },
    limits,
    credits: admitted || o.fail === 4 ? { balance: o.balance, reserved: o.reserved, available: o.balance - o.reserved } : null,
    reservation: admitted && request.reservation ? { id: request.reservation.id, credits: request.credits, expiresAt: request.reservation.expiresAt } : null,
    bypass: admitted && o.bypass && request.meter !== null ? { reason: o.role as Role, meter: request.meter } : null,
    route: { provider: 'default' },
  };
}

/** What the checks before the rate limit found: the tenant's plan and the acting user's role. */
export interface CheckedStanding { plan: string | null; enterprise: boolean; role: string | null }

/** A refusal made before the meters (credential, standing, plan, module, rate): it touched no limit, credit or reservation. */
export function refusalOf(decisionId: string, code: DecisionCode, tenant: Decision['tenant'], principal: Decision['principal'], operation: Decision['operation']): Decision {
  return {
    allowed: false, code, decisionId, tenant, principal, operation: { ...operation },
    limits: [], credits: null, reservation: null, bypass: null, route: { provider: 'default' },
  };
}

/** A call past its rate limit, spelled as the batch (tollgate_refusal) and the reference path spell it. */
export function rateLimitedOf(request: RequestShape, standing: CheckedStanding, retryAfterMs: number): Decision {
  const tenant = { id: request.tenantId, plan: standing.plan, enterprise: standing.enterprise };
  return { ...refusalOf(request.decisionId, 'RATE_LIMITED', tenant, principalWithRole(request, standing.role), request.operation), retryAfterMs };
}

/** The principal as a decision shows it: a user's role is the membership's, as the checks found it. */
function principalWithRole(request: RequestShape, role: string | null): Decision['principal'] {
  return (request.userId === null ? request.principal : { ...request.principal, role }) as Decision['principal'];
}

/** One line of a decision's `limits`. */
export function limitView(meter: string, used: number, limit: number | null, resetsAt: string | null): LimitView {
  return { meter, used, limit, remaining: limit === null ? null : Math.max(0, limit - used), resetsAt };
}
