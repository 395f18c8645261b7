import type { Executor } from '../../db/client.js';
import type { BillingService, Period } from '../billing/index.js';
import type { CreditsService } from '../credits/index.js';
import type { Entitlements, EntitlementsService } from '../entitlements/index.js';

/** A tenant's current period and what it may do in it. */
export interface Standing { period: Period; entitlements: Entitlements }

/**
 * The tenant's current period, rolled forward if it ended, with the plan's credits for
 * it granted once: what every metering call and the decision read first.
 */
export class PeriodStanding {
  /**
   * The start (ISO) of the latest period whose plan grant this process has seen
   * committed, per tenant: a committed grant stays in the append-only ledger, so seeing
   * one is remembered; a grant written here is not (its transaction may still roll back).
   */
  private readonly grantedPeriods = new Map<string, string>();

  constructor(private readonly billing: BillingService, private readonly entitlements: EntitlementsService, private readonly credits: CreditsService) {}

  /** Rolls the period if it ended, grants the plan's credits for it once; in the caller's transaction. */
  async standing(tx: Executor, tenantId: string): Promise<Standing> {
    const period = await this.billing.currentPeriod(tx, tenantId);
    const entitlements = await this.entitlements.effective(tx, tenantId);
    const start = period.start.toISOString();
    if (this.grantSeen(tenantId) !== start) {
      if (await this.credits.hasPeriodGrant(tx, tenantId, period.start)) {
        this.rememberGrant(tenantId, start);
      } else {
        await this.credits.grantForPeriod(tx, tenantId, period.start, entitlements.creditsPerPeriod);
      }
    }
    return { period, entitlements };
  }

  /** The period start (ISO) whose plan grant is known committed for the tenant, if any. */
  grantSeen(tenantId: string): string | null {
    return this.grantedPeriods.get(tenantId) ?? null;
  }

  rememberGrant(tenantId: string, periodStart: string): void {
    if (this.grantedPeriods.size >= 100_000) this.grantedPeriods.clear();
    this.grantedPeriods.set(tenantId, periodStart);
  }
}
