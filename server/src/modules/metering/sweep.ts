import type { Db } from '../../db/client.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { BillingService } from '../billing/index.js';
import type { ReservationsService } from '../credits/index.js';
import type { PeriodStanding } from './periods.js';

const SWEEP_BATCH = 200;

/**
 * Expires the reservations due at `at`, each in its tenant's transaction, and rolls ended
 * periods forward with their plan grant (for tenants idle since their period ended).
 */
export async function sweep(
  p: { db: Db; billing: BillingService; reservations: ReservationsService; periods: PeriodStanding },
  at: Date,
): Promise<{ expired: number; rolled: number }> {
  let expired = 0;
  for (let round = 0; round < 100; round++) {
    const due = await inSystem(p.db, (tx) => p.reservations.due(tx, at, SWEEP_BATCH));
    for (const r of due) {
      if (await inTenant(p.db, r.tenantId, (tx) => p.reservations.expire(tx, r.tenantId, r.id, at))) expired++;
    }
    if (due.length < SWEEP_BATCH) break;
  }
  const ended = await inSystem(p.db, (tx) => p.billing.duePeriods(tx, SWEEP_BATCH));
  for (const tenantId of ended) await inTenant(p.db, tenantId, (tx) => p.periods.standing(tx, tenantId));
  return { expired, rolled: ended.length };
}
