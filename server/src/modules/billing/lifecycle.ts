import type { Executor } from '../../db/client.js';
import type { ChangeFeed } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { Actor, AuditService } from '../audit/index.js';
import { lockSubscription, updateSubscription, type SubscriptionRow } from './repo.js';
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from './tables.js';
import { toSubscription, type Subscription } from './view.js';

/** What moves a subscription. Each names the states it may leave and those it may reach. */
export type LifecycleEvent =
  | 'trial_started' | 'trial_ended'
  | 'transfer_requested' | 'renewal_requested' | 'transfer_rejected'
  | 'payment_succeeded' | 'payment_failed'
  | 'period_ended_unpaid' | 'grace_ended'
  | 'canceled' | 'cancel_scheduled' | 'resumed' | 'canceled_at_period_end'
  | 'plan_changed' | 'provider_updated';

const ALL = SUBSCRIPTION_STATUSES;
const SAME = 'same' as const;

/**
 * The state machine. `trialing → active → past_due → suspended`, `pending_payment` while
 * a transfer is awaited (unless a paid period runs: the transfer is for the next one),
 * `canceled` now or at the period's end. What owes money (past_due, suspended) cannot be
 * turned into a trial; only a payment, a transfer asked for or a cancellation leaves it. A
 * provider's own state (Stripe, PayPal) is applied as it says: the provider keeps that
 * subscription.
 */
export const TRANSITIONS: Readonly<Record<LifecycleEvent, { from: readonly SubscriptionStatus[]; to: readonly SubscriptionStatus[] | typeof SAME }>> = {
  trial_started: { from: ['trialing', 'active', 'canceled', 'pending_payment'], to: ['trialing'] },
  trial_ended: { from: ['trialing'], to: ['active', 'suspended', 'canceled'] },
  transfer_requested: { from: ALL, to: ['pending_payment'] },
  // A transfer asked for while a paid period runs (or an operator's trial over one) is for the period after it: the tenant keeps its standing until then.
  renewal_requested: { from: ['active', 'trialing'], to: SAME },
  // Back to what it was: pending_payment too, where a provider had said so (Stripe's `incomplete`) before the transfer was asked for.
  transfer_rejected: { from: ['pending_payment'], to: ['trialing', 'active', 'past_due', 'suspended', 'canceled', 'pending_payment'] },
  payment_succeeded: { from: ALL, to: ['active'] },
  payment_failed: { from: ['trialing', 'active', 'past_due'], to: ['past_due'] },
  period_ended_unpaid: { from: ['active'], to: ['past_due'] },
  grace_ended: { from: ['past_due'], to: ['suspended'] },
  canceled: { from: ['trialing', 'active', 'past_due', 'pending_payment', 'suspended'], to: ['canceled'] },
  cancel_scheduled: { from: ['trialing', 'active'], to: SAME },
  resumed: { from: ['trialing', 'active', 'canceled'], to: ['trialing', 'active'] },
  canceled_at_period_end: { from: ['trialing', 'active', 'past_due'], to: ['canceled'] },
  plan_changed: { from: ALL, to: SAME },
  provider_updated: { from: ALL, to: ALL },
};

export function transitionAllowed(event: LifecycleEvent, from: SubscriptionStatus, to: SubscriptionStatus): boolean {
  const rule = TRANSITIONS[event];
  if (!rule.from.includes(from)) return false;
  return rule.to === SAME ? to === from : rule.to.includes(to);
}

/** What a transition writes besides the status. */
export type SubscriptionPatch = Partial<Omit<SubscriptionRow, 'tenantId' | 'id' | 'status' | 'createdAt' | 'updatedAt'>>;

export interface Transition {
  event: LifecycleEvent;
  to: SubscriptionStatus;
  set?: SubscriptionPatch;
  actor: Actor;
  requestId?: string | undefined;
  /** More for the audit entry (a reason, the payment). */
  data?: Record<string, unknown>;
  /**
   * The caller changes more of the tenant's limits in this transaction and tells metering
   * itself once they are all written: told of the plan alone, metering would announce the
   * thresholds of a state the tenant is never in, and each is announced once a period.
   */
  limitsToldByCaller?: boolean;
}

/** The lifecycle events an outbox announces (issue 22): told inside the transaction of the change. */
export type BillingEventType = 'subscription.updated' | 'payment.succeeded' | 'payment.failed' | 'tenant.suspended';
export interface BillingEvent { type: BillingEventType; tenantId: string; data: Record<string, unknown> }
export type BillingEventHook = (tx: Executor, event: BillingEvent) => Promise<void>;
/** Told, in the transaction, that a tenant's plan changed (so its limits did): limit.threshold for where its counts stand. */
export type PlanChangedHook = (tx: Executor, tenantId: string) => Promise<void>;

export interface Transitioned { before: Subscription; after: Subscription }

/**
 * The one function every change of a subscription goes through: it locks the row, lets
 * the caller decide on it, refuses what the machine does not allow (409
 * INVALID_TRANSITION), writes the change and its audit entry, tells the event hook, and
 * announces the tenant on the change feed inside the transaction, so every process's
 * caches drop it when (and only if) it commits.
 */
export class SubscriptionLifecycle {
  constructor(
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly changes: ChangeFeed,
    private readonly onEvent: BillingEventHook,
    private readonly planChanged: PlanChangedHook,
  ) {}

  /** `decide` sees the locked row and names the transition, or null for none (nothing is written). */
  async apply(tx: Executor, tenantId: string, decide: (row: SubscriptionRow, now: Date) => Transition | null): Promise<Transitioned | null> {
    const row = await lockSubscription(tx, tenantId);
    if (!row) throw new AppError('SUBSCRIPTION_NOT_FOUND');
    const now = this.clock.now();
    const t = decide(row, now);
    if (!t) return null;
    if (!transitionAllowed(t.event, row.status, t.to)) {
      throw new AppError('INVALID_TRANSITION', `${t.event.replaceAll('_', ' ')}: not allowed for a ${row.status} subscription`, { from: row.status, event: t.event });
    }
    const patch = { ...t.set, status: t.to, updatedAt: now };
    const next = (await updateSubscription(tx, tenantId, patch))!;
    const before = toSubscription(row);
    const after = toSubscription(next);
    await this.audit.record(tx, {
      tenantId, actor: t.actor, action: `subscription.${t.event}`, target: { type: 'subscription', id: row.id },
      data: { from: row.status, to: t.to, ...changed(before, after), ...t.data }, requestId: t.requestId,
    });
    // Every change of plan comes through here: an operator's, a payment provider's, a transfer's.
    if (after.plan !== before.plan && !t.limitsToldByCaller) await this.planChanged(tx, tenantId);
    await this.onEvent(tx, { type: 'subscription.updated', tenantId, data: { event: t.event, previousStatus: row.status, subscription: after } });
    if (t.to === 'suspended' && row.status !== 'suspended') {
      await this.onEvent(tx, { type: 'tenant.suspended', tenantId, data: { reason: t.event, subscription: after } });
    }
    await this.changes.announce(tx, { kind: 'tenant', id: tenantId });
    return { before, after };
  }
}

function changed(before: Subscription, after: Subscription): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const key of Object.keys(after) as (keyof Subscription)[]) {
    if (key !== 'status' && before[key] !== after[key]) out[key] = { from: before[key], to: after[key] };
  }
  return out;
}
