import type { Db } from '../../db/client.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { BillingService } from '../billing/index.js';
import type { ReservationsService } from '../credits/index.js';
import type { PeriodStanding } from './periods.js';

const SWEEP_BATCH = 200;

/** The time-driven subscription transitions (billing's SubscriptionActions): how many it made. */
export interface SubscriptionSweep { sweep(at: Date): Promise<number> }

/**
 * Expires the reservations due at `at`, each in its tenant's transaction, makes the
 * subscriptions' time-driven transitions (trials, periods and graces that ended), and
 * rolls ended self-renewing periods forward with their plan grant (for idle tenants).
 */
export async function sweep(
  p: { db: Db; billing: BillingService; reservations: ReservationsService; periods: PeriodStanding; subscriptions: SubscriptionSweep },
  at: Date,
): Promise<{ expired: number; rolled: number; transitions: number }> {
  let expired = 0;
  for (let round = 0; round < 100; round++) {
    const due = await inSystem(p.db, (tx) => p.reservations.due(tx, at, SWEEP_BATCH));
    for (const r of due) {
      if (await inTenant(p.db, r.tenantId, (tx) => p.reservations.expire(tx, r.tenantId, r.id, at))) expired++;
    }
    if (due.length < SWEEP_BATCH) break;
  }
  // Time-driven subscription changes first: a trial or a period that ended may change what rolls.
  const transitions = await p.subscriptions.sweep(at);
  const ended = await inSystem(p.db, (tx) => p.billing.duePeriods(tx, SWEEP_BATCH));
  for (const tenantId of ended) await inTenant(p.db, tenantId, (tx) => p.periods.standing(tx, tenantId));
  return { expired, rolled: ended.length, transitions };
}
