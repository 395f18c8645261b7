import type { SubscriptionStatus } from './tables.js';

/** What the payment rule reads of a subscription: instants in epoch milliseconds. */
export interface SubscriptionStanding {
  status: SubscriptionStatus;
  pastDueSince: number | null;
  trialEndsAt: number | null;
}

/** Subscription states in which the tenant has not paid for what it is using. */
const UNPAID: ReadonlySet<SubscriptionStatus> = new Set(['canceled', 'pending_payment', 'suspended']);

/**
 * Whether a tenant must pay before it may act (PAYMENT_REQUIRED): its subscription is
 * canceled, suspended or waiting for a transfer, past due beyond the grace, or its trial
 * has ended. A tenant without a subscription owes nothing. The one statement of the
 * rule: the tenant check (tenancy's AccessCheck) applies it for the routes and the
 * decision alike.
 */
export function paymentRequired(sub: SubscriptionStanding | null, now: number, pastDueGraceSeconds: number): boolean {
  if (!sub) return false;
  if (UNPAID.has(sub.status)) return true;
  if (sub.status === 'past_due') return sub.pastDueSince === null || now >= sub.pastDueSince + pastDueGraceSeconds * 1000;
  if (sub.status === 'trialing') return sub.trialEndsAt !== null && now >= sub.trialEndsAt;
  return false;
}
