import type { Executor } from '../../db/client.js';
import { paymentRequired, renewsItself, type SubscriptionRow } from '../billing/index.js';
import type { Provider, ProviderState } from './provider-events.js';
import * as repo from './repo.js';

/**
 * A state held back: a new provider subscription that would take a served tenant away
 * from what serves it before anything pays for it (provider-events.ts `takeover`). Kept
 * per tenant and provider subscription (migration 0035) until it is applied.
 */
export async function heldState(tx: Executor, tenantId: string, provider: Provider, subscriptionId: string): Promise<ProviderState | null> {
  const row = await repo.findHeldState(tx, tenantId, provider, subscriptionId);
  return row ? fromStored(row.state) : null;
}

export async function hold(tx: Executor, tenantId: string, provider: Provider, state: ProviderState, now: Date): Promise<void> {
  await repo.upsertHeldState(tx, { tenantId, provider, providerSubscriptionId: state.subscriptionId, state: JSON.parse(JSON.stringify(state)) as Record<string, unknown>, createdAt: now, updatedAt: now });
}

export async function release(tx: Executor, tenantId: string, provider: Provider, subscriptionId: string): Promise<void> {
  await repo.deleteHeldState(tx, tenantId, provider, subscriptionId);
}

function fromStored(o: Record<string, unknown>): ProviderState {
  const period = o.period as { start: string; end: string } | undefined;
  return {
    ...(o as unknown as ProviderState), at: new Date(o.at as string),
    ...(period ? { period: { start: new Date(period.start), end: new Date(period.end) } } : {}),
    ...(typeof o.trialEndsAt === 'string' ? { trialEndsAt: new Date(o.trialEndsAt) } : {}),
  };
}

/**
 * Stripe's checkout: it says which subscription the tenant follows, not its state. Stripe
 * makes the subscription's own events before it, so it must not date the state: they
 * would arrive "older" and be dropped.
 */
export function followsOnly(s: ProviderState): boolean {
  return s.creates === true && s.status === undefined && s.period === undefined;
}

/**
 * The state held with a later one of its subscription (a cancellation, Stripe's update
 * once paid) on top: what the later one says wins; one older than the state held says
 * nothing (null). A checkout dates nothing (followsOnly): it adds its customer only.
 * Either way still a creation: applied, it switches the tenant.
 */
export function withLater(held: ProviderState, s: ProviderState): ProviderState | null {
  if (followsOnly(s)) return { ...held, customerId: s.customerId ?? held.customerId };
  if (s.at < held.at) return null;
  const said = Object.fromEntries(Object.entries(s).filter(([, value]) => value !== undefined));
  return { ...held, ...said, creates: true };
}

/**
 * Whether the tenant is served by what it has now — what a new provider subscription
 * must not take away before it is paid for. Billing's one rule of who may act
 * (paymentRequired) says: active, trialing with its trial not over, past due within the
 * grace. To it: an active period that ended is served for the grace after its end, as
 * the sweeper's past_due from that end would be (its renewal may yet come), unless its
 * period renews by itself (a plan an operator set, nobody paying, a free plan's). A plan
 * without a price serves as much as any: nothing paid is lost, but a switch to
 * pending_payment refuses every decision, and anyone may name a tenant in a PayPal
 * activation. Not served: canceled, suspended, pending_payment, a past due or an ended
 * period whose grace ran out.
 */
export function served(row: SubscriptionRow, now: Date, graceSeconds: number): boolean {
  const standing = { status: row.status, pastDueSince: row.pastDueSince?.getTime() ?? null, trialEndsAt: row.trialEndsAt?.getTime() ?? null };
  if (paymentRequired(standing, now.getTime(), graceSeconds)) return false;
  return row.status !== 'active' || renewsItself(row) || row.currentPeriodEnd.getTime() + graceSeconds * 1000 > now.getTime();
}
