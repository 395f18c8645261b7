import type { Db, Executor } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import type { Actor } from '../audit/index.js';
import { endsItsOwnPeriod, findByProvider, findSubscription, keptByProvider, lockSubscription, paidPeriodEnd, type Period, type Subscription, type SubscriptionLifecycle, type SubscriptionRow, type SubscriptionStatus } from '../billing/index.js';
import { newId } from '../../lib/ids.js';
import type { Plan } from '../plans/index.js';
import { followsOnly, heldState, hold, release, served, withLater } from './held-states.js';
import * as repo from './repo.js';
import type { PaymentRow } from './repo.js';
import { coversPrice, type PaymentsService } from './service.js';

export type Provider = 'stripe' | 'paypal';

/** What an event says of the provider's subscription; absent fields are not changed. */
export interface ProviderState {
  subscriptionId: string;
  customerId?: string | null | undefined;
  status?: SubscriptionStatus | undefined;
  /** The plan its price maps to (config billing.stripe.prices / billing.paypal.plans); undefined: unknown or unchanged. */
  plan?: string | undefined;
  period?: Period | undefined;
  trialEndsAt?: Date | null | undefined;
  cancelAtPeriodEnd?: boolean | undefined;
  /** The provider's own time of this state: the newest applied wins, whatever the arrival order. */
  at: Date;
  /** A new provider subscription (a checkout, a creation, an activation): the tenant may switch to following it. */
  creates?: boolean;
  /**
   * `active` as the provider says before anything is paid (PayPal's activation may come
   * before its first sale): active only while a payment of this subscription paid for the
   * period it is in, else pending_payment until one does (a plan without a price excepted).
   */
  activeOncePaid?: boolean;
}

/** A payment the provider reports. */
export interface ProviderPayment {
  externalId: string | null;
  subscriptionId: string | null;
  amount: number;
  currency: string;
  succeeded: boolean;
  reason?: string | null | undefined;
  /** The period it pays for; without one (PayPal) one interval of the plan from `at`; null: none (a Stripe invoice of prorations only). */
  period?: Period | null | undefined;
  plan?: string | undefined;
  /**
   * What the provider billed for that period before its discounts and the customer's
   * credit (Stripe's period line): what must cover the plan's price; absent, what was paid.
   */
  billed?: { amount: number; currency: string } | undefined;
  /** Stripe's payment intent that paid the invoice, when the invoice names it: what its refunds and disputes name (refunds.ts). */
  paymentIntent?: string | null | undefined;
  at: Date;
}

/** What the tenant of an event is found by: a tenantId in the object's metadata, else the subscription or customer it follows. */
export interface EventTenant { fromMetadata?: string | null | undefined; subscriptionId?: string | null | undefined; customerId?: string | null | undefined }

const TENANT_ID = /^tnt_[0-9A-Z]{26}$/;

/**
 * Applies providers' events once each, in the tenant's transaction: the event id is
 * claimed first (a redelivery, even a concurrent one, finds it and changes nothing), then
 * its state or payment is applied unless it is older than what the subscription has.
 */
export class ProviderEvents {
  /** `graceSeconds`: billing.pastDueGraceSeconds, which says how long a tenant past due is still served (held-states.ts `served`). */
  constructor(private readonly db: Db, private readonly payments: PaymentsService, private readonly lifecycle: SubscriptionLifecycle, private readonly graceSeconds: number) {}

  async tenantOf(provider: Provider, t: EventTenant): Promise<string | null> {
    return inSystem(this.db, async (tx) => {
      const named = t.fromMetadata && TENANT_ID.test(t.fromMetadata) ? t.fromMetadata : null;
      if (named) return (await findSubscription(tx, named)) ? named : null;
      // The subscription says more than its customer (who may pay for several tenants): a
      // subscription not followed yet, whose state is held for a tenant (takeover), is that
      // tenant's before a customer some other tenant follows.
      return (t.subscriptionId ? await findByProvider(tx, provider, { subscriptionId: t.subscriptionId }) ?? await repo.tenantHolding(tx, provider, t.subscriptionId) : undefined)
        ?? await findByProvider(tx, provider, { customerId: t.customerId }) ?? null;
    });
  }

  /**
   * Runs `apply` once per event id; returns what happened ('replayed' for a redelivery).
   * A transmission (PayPal's) carries one event: another one under its id is refused.
   */
  async process(provider: Provider, event: { id: string; type: string; transmissionId?: string }, tenantId: string | null, apply: ((tx: Executor, tenantId: string) => Promise<string>) | null, noTenant = 'ignored: no tenant (no metadata.tenantId, no subscription followed)'): Promise<string> {
    const receivedAt = this.payments.clock.now();
    const claim = { provider, eventId: event.id, type: event.type, appliedTenant: tenantId, outcome: 'received', receivedAt, transmissionId: event.transmissionId ?? null };
    if (!tenantId || !apply) {
      const outcome = !apply ? 'ignored: a type Tollgate does not handle' : noTenant;
      return inSystem(this.db, async (tx) => (await repo.claimEvent(tx, { ...claim, outcome })) ? outcome : 'replayed');
    }
    return this.payments.commit(tenantId, async (tx) => {
      if (!(await repo.claimEvent(tx, claim))) return 'replayed';
      const outcome = await apply(tx, tenantId);
      await repo.setEventOutcome(tx, provider, event.id, outcome);
      return outcome;
    });
  }

  /**
   * The provider's subscription state, unless the subscription follows another one or already
   * has a newer state, or it is a new subscription's that takeover holds back.
   */
  async applyState(tx: Executor, tenantId: string, provider: Provider, given: ProviderState): Promise<string> {
    const actor: Actor = { type: 'system', id: provider };
    const locked = await lockSubscription(tx, tenantId);
    const s = !locked || followsSubscription(locked, provider, given.subscriptionId) ? given : await this.takeover(tx, locked, provider, given);
    if (typeof s === 'string') return s;
    let switched = false;
    const followOnly = followsOnly(s);
    const changed = await this.lifecycle.apply(tx, tenantId, (row) => {
      const follows = followsSubscription(row, provider, s.subscriptionId);
      switched = !follows;
      if (!follows && !s.creates) return null;
      const to = this.statusOf(row, follows, s);
      const state = { status: to, cancelAtPeriodEnd: s.cancelAtPeriodEnd ?? row.cancelAtPeriodEnd, paymentMethod: provider, providerSubscriptionId: s.subscriptionId };
      if (follows && isOlder(row, s, () => tieRank(state) < tieRank(row))) return null;
      if (!follows && row.paymentMethod === provider && row.providerUpdatedAt && s.at < row.providerUpdatedAt) return null;
      return {
        event: 'provider_updated', to, actor, data: { provider, providerSubscriptionId: s.subscriptionId },
        set: {
          paymentMethod: provider, providerSubscriptionId: s.subscriptionId,
          providerUpdatedAt: !followOnly ? s.at : follows ? row.providerUpdatedAt : null,
          // The subscription followed before ended its own periods: they say nothing of this one's.
          ...(!follows && !s.period ? { providerPeriodEnd: null } : {}),
          ...(s.customerId ? { providerCustomerId: s.customerId } : {}),
          ...(s.plan ? { plan: s.plan } : {}),
          ...(s.period ? { currentPeriodStart: s.period.start, currentPeriodEnd: s.period.end, providerPeriodEnd: s.period.end } : {}),
          ...(s.cancelAtPeriodEnd !== undefined ? { cancelAtPeriodEnd: s.cancelAtPeriodEnd } : {}),
          ...(s.trialEndsAt !== undefined ? { trialEndsAt: s.trialEndsAt } : {}),
          ...statusFields(row, to, s.at),
        },
      };
    });
    if (!changed) return 'ignored: older than the state applied, or another subscription than the one followed';
    // A state saying only which subscription the tenant follows opens nothing: that subscription's own state will.
    if (changed.after.status !== 'canceled' && !followOnly) {
      // A state naming no period (PayPal's) that switches to a subscription leaves the period of the one before: its held payment's is the period.
      await this.applyHeldPayments(tx, tenantId, provider, s, changed.after, actor, switched && !s.period);
    }
    return `applied: ${changed.before.status} → ${changed.after.status}`;
  }

  /**
   * A state of a provider subscription the tenant does not follow: what applyState is to
   * apply (it, or the state held of that subscription with it on top), or why nothing is.
   * A creation switches the tenant to following its subscription; PayPal lets the buyer
   * set a subscription's custom_id, so anyone may activate one naming any tenant. A tenant
   * served by what it has (held-states.ts `served`) is switched only to a state that serves
   * it: one active or trialing — for PayPal, once a sale of it covers its plan's price
   * (statusOf) — or one whose held payment applyHeldPayments will open a period with. Any
   * other is held (provider_held_states) and the tenant keeps what it has; a later state of
   * that subscription, or a payment of it (applySuccess), judges it again, and a tenant no
   * longer served by then switches as any other. A tenant not served switches at once.
   */
  private async takeover(tx: Executor, row: SubscriptionRow, provider: Provider, s: ProviderState): Promise<ProviderState | string> {
    const held = await heldState(tx, row.tenantId, provider, s.subscriptionId);
    if (!held && !s.creates) return s;
    const state = held ? withLater(held, s) : s;
    if (!state) return 'ignored: older than the state held of that subscription';
    if (await this.keepsServed(tx, row, provider, state)) {
      if (held) await release(tx, row.tenantId, provider, state.subscriptionId);
      return state;
    }
    await hold(tx, row.tenantId, provider, state, this.payments.clock.now());
    return `held: the tenant is ${row.status} on what it has; ${state.subscriptionId} takes over once a payment of it covers its plan's price`;
  }

  /** Whether switching to `state` leaves the tenant served, or it was not served anyway. */
  private async keepsServed(tx: Executor, row: SubscriptionRow, provider: Provider, state: ProviderState): Promise<boolean> {
    if (!served(row, this.payments.clock.now(), this.graceSeconds)) return true;
    const to = this.statusOf(row, false, state);
    if (followsOnly(state) || to === 'active' || to === 'trialing') return true;
    // A canceled state opens nothing (applyState); any other, the payment applyHeldPayments would open a period with.
    if (to === 'canceled') return false;
    const periodless = !state.period;
    const later = laterHeld(await repo.succeededPaymentsOf(tx, row.tenantId, provider, state.subscriptionId), state.period ?? { start: row.currentPeriodStart }, periodless);
    const prospect = { status: to, paymentMethod: provider, providerSubscriptionId: state.subscriptionId, trialEndsAt: state.trialEndsAt === undefined ? row.trialEndsAt : state.trialEndsAt };
    return later !== undefined && (await this.admitHeld(tx, row.tenantId, provider, later, heldPlan(provider, state, later), prospect)) !== null;
  }

  /** The status a state gives the subscription: PayPal's `active` is pending_payment until paid for. */
  private statusOf(row: SubscriptionRow, follows: boolean, s: ProviderState): SubscriptionStatus {
    return s.activeOncePaid && s.status === 'active' && !this.paidFor(row, follows, s) ? 'pending_payment' : s.status ?? row.status;
  }

  /** Whether the period the subscription is in is paid for by the provider subscription `s` is of (or its plan is free). */
  private paidFor(row: SubscriptionRow, follows: boolean, s: ProviderState): boolean {
    const plan = this.payments.plans.ofSubscription(s.plan ?? row.plan);
    return plan.price === undefined || (follows && row.providerPeriodEnd !== null && row.providerPeriodEnd > s.at);
  }

  /**
   * The payments of a provider subscription recorded before Tollgate followed it (its
   * payment delivered before its state: a returning customer's new subscription, a PayPal
   * sale before its activation), applied once the state is: the period the subscription is
   * in gets its credits, and a later period paid for (PayPal's states name none) opens, on
   * the plan the state names, where it names one — a PayPal sale names none, so it was
   * recorded on the plan before; a Stripe invoice names its own. Only a payment that pays
   * for its plan (admitHeld) is applied.
   * `periodless`: the state switched to this subscription naming no period, so the
   * subscription's period is still the one before's, and any held payment's is newer.
   */
  private async applyHeldPayments(tx: Executor, tenantId: string, provider: Provider, s: ProviderState, after: Subscription, actor: Actor, periodless: boolean): Promise<void> {
    const subscriptionId = s.subscriptionId;
    const current: Period = { start: new Date(after.currentPeriodStart), end: new Date(after.currentPeriodEnd) };
    const held = await repo.succeededPaymentsOf(tx, tenantId, provider, subscriptionId);
    const inCurrent = (h: PaymentRow) => h.periodStart?.getTime() === current.start.getTime();
    const state = { status: after.status, paymentMethod: provider, providerSubscriptionId: subscriptionId, trialEndsAt: after.trialEndsAt === null ? null : new Date(after.trialEndsAt) };
    for (const payment of periodless ? [] : held.filter(inCurrent)) {
      const admitted = await this.admitHeld(tx, tenantId, provider, payment, payment.plan, state);
      if (admitted) await this.payments.grantFor(tx, tenantId, admitted, current, actor);
    }
    const later = laterHeld(held, current, periodless);
    if (!later) return;
    const repriced = await this.admitHeld(tx, tenantId, provider, later, heldPlan(provider, s, later), state);
    if (!repriced) return;
    await this.payments.activate(tx, tenantId, repriced, { start: later.periodStart!, end: later.periodEnd! }, actor, {
      applies: (row) => followsSubscription(row, provider, subscriptionId) && (periodless || beginsAfter(later, { start: row.currentPeriodStart })),
      set: { providerPeriodEnd: later.periodEnd },
    });
  }

  /**
   * A held payment as the state just applied judges it, its record made to say so (the
   * plan it pays for, and why it is not applied): the payment, or null when it pays for no
   * period of that plan. A PayPal sale names no plan: recorded on the tenant's plan then,
   * it is priced now, against the plan its subscription's state names. A Stripe invoice
   * names its own and was priced as it was recorded (by what its line billed, which only
   * the event says). A payment inside the provider's trial is the trial's (`sub`: the
   * subscription as the state left it).
   */
  private async admitHeld(tx: Executor, tenantId: string, provider: Provider, h: PaymentRow, plan: string, sub: TrialOf): Promise<PaymentRow | null> {
    const trial = h.periodStart !== null && h.periodEnd !== null && inProviderTrial(sub, { start: h.periodStart, end: h.periodEnd });
    const reason = trial ? null : provider === 'paypal' ? shortOfPrice(this.payments.plans.ofSubscription(plan), h) : h.reason;
    const row = h.plan === plan && h.reason === reason ? h : (await repo.updatePayment(tx, tenantId, h.id, 'succeeded', { plan, reason }))!;
    return reason === null ? row : null;
  }

  /** A payment the provider reports: recorded once per external id; a success activates the period it pays for, a subscription's payment failed makes it past_due. */
  async applyPayment(tx: Executor, tenantId: string, provider: Provider, p: ProviderPayment): Promise<string> {
    const actor: Actor = { type: 'system', id: provider };
    if (p.externalId) await repo.lockExternalId(tx, provider, p.externalId);
    const existing = p.externalId ? await repo.findByExternalId(tx, tenantId, provider, p.externalId) : undefined;
    if (existing?.status === 'succeeded' || (existing && !p.succeeded)) return 'ignored: payment already recorded';
    const sub = (await lockSubscription(tx, tenantId))!;
    const plan = this.payments.plans.ofSubscription(p.plan ?? sub.plan);
    const period = p.period === null ? null : p.period ?? { start: p.at, end: paidPeriodEnd(p.at, plan.price?.interval ?? 'month', 1) };
    const notApplied = p.succeeded && period ? this.priceCheck(provider, p, sub, plan, period) : null;
    const now = this.payments.clock.now();
    const fields = {
      status: p.succeeded ? 'succeeded' as const : 'failed' as const, amount: p.amount, currency: p.currency, plan: plan.id,
      periodStart: period?.start ?? null, periodEnd: period?.end ?? null, reason: p.reason ?? notApplied, providerSubscriptionId: p.subscriptionId,
      ...(p.paymentIntent ? { paymentIntent: p.paymentIntent } : {}),
    };
    const payment = await this.payments.record(tx, tenantId, existing
      ? { update: { id: existing.id, from: existing.status, patch: fields } }
      : { insert: { ...fields, tenantId, id: newId('pay', now.getTime()), subscriptionId: sub.id, method: provider, externalPaymentId: p.externalId, reference: null, periods: 1, payerName: null, proofUrl: null, requestHash: null, previousStatus: null, previousPlan: null, decidedBy: null, createdAt: now, updatedAt: now } },
    actor);
    // A subscription's payment moves the subscription only once Tollgate follows that
    // subscription (its state applied: applyHeldPayments takes it up then). A payment of
    // no subscription (a one-off invoice, a capture) that lands is the tenant's, unless a
    // provider bills the subscription: then it is recorded only.
    const follows = (row: SubscriptionRow) => p.subscriptionId === null
      ? !keptByProvider(row) || row.status === 'canceled'
      : followsSubscription(row, provider, p.subscriptionId);
    // A provider subscription ended is not brought back by a payment of it (an invoice left
    // open, paid after the deletion): the provider bills it no more, and no event of theirs would end it again.
    const ended = (row: SubscriptionRow) => row.status === 'canceled' && p.subscriptionId !== null && row.providerSubscriptionId === p.subscriptionId;
    const current = (row: SubscriptionRow) => follows(row) && !ended(row) && !isOlder(row, { period: period ?? undefined, at: p.at });
    if (notApplied) return `recorded, ${notApplied}`;
    if (p.succeeded) return this.applySuccess(tx, sub, provider, p, payment, period, { follows, ended, current });
    // A failed payment of no subscription (a top-up, an order) takes nothing away: the
    // period running is paid for, or free, and one Tollgate keeps ends unpaid by itself.
    if (p.subscriptionId === null) return 'recorded: a failed payment of no subscription, which changes no subscription';
    const failed = await this.lifecycle.apply(tx, tenantId, (row) => {
      if (!current(row) || !['trialing', 'active', 'past_due'].includes(row.status)) return null;
      return { event: 'payment_failed', to: 'past_due', actor, data: { paymentId: payment.id }, set: { pastDueSince: row.pastDueSince ?? p.at } };
    });
    return failed ? 'applied: payment failed, past_due' : 'recorded: failed payment';
  }

  /**
   * Why a succeeded payment of `period` pays for no period of `plan` (null: it does, or is
   * judged later): it does not cover the plan's price in its currency — a one-off's as a
   * bank transfer must, and a subscription's alike (a PayPal buyer may set a subscription's
   * price; the provider's "paid" says nothing of how much). What is compared is what the
   * provider billed for the period before its discounts and the customer's credit
   * (Stripe's period line: a coupon the merchant gave is theirs to give), else what was
   * paid. Not judged: a payment inside the provider's trial (Stripe's $0 invoice brings
   * the trial's credits), and a PayPal sale of a subscription not followed yet, which pays
   * for the plan its activation will name (admitHeld judges it then).
   * A payment of no subscription is a plan's only when it is meant to be: it names the
   * plan (a Stripe invoice line's price), or, naming none (a PayPal capture, a line of a
   * price no plan has), it pays for the plan the tenant owes for. A top-up or an order of
   * a tenant paid up, or free, at or above the plan's price, renews nothing.
   */
  private priceCheck(provider: Provider, p: ProviderPayment, sub: SubscriptionRow, plan: Plan, period: Period): string | null {
    if (p.subscriptionId === null && p.plan === undefined && !owesForPlan(sub, p.at)) {
      return `not applied: a payment of no subscription naming no plan, while the ${sub.plan} plan is paid up or free (a top-up or an order, not a renewal)`;
    }
    const followed = p.subscriptionId !== null && followsSubscription(sub, provider, p.subscriptionId);
    if (followed && inProviderTrial(sub, period)) return null;
    if (provider === 'paypal' && p.subscriptionId !== null && !followed) return null;
    return shortOfPrice(plan, p.billed ?? p);
  }

  /** A succeeded payment, recorded: what it does to the subscription (`sub`, as applyPayment locked it). */
  private async applySuccess(tx: Executor, sub: SubscriptionRow, provider: Provider, p: ProviderPayment, payment: PaymentRow, period: Period | null, rules: PaymentRules): Promise<string> {
    const actor: Actor = { type: 'system', id: provider };
    const tenantId = sub.tenantId;
    if (!period) return 'recorded: a payment of prorations only, of no period';
    if (rules.current(sub) && inProviderTrial(sub, period)) {
      // Stripe's $0 invoice of a trial: the trial's credits come with it; the trial runs on, as Stripe keeps it.
      await this.payments.grantFor(tx, tenantId, payment, period, actor);
      return 'applied: payment of the provider\'s trial, its credits granted';
    }
    // A period bought by a payment of no subscription is Tollgate's to keep (and to end, unpaid): no provider subscription is followed.
    // A subscription's payment leaves its cancellation to the provider's state: a sale
    // PayPal made before the cancellation it sent (delivered after it) pays its month and
    // ends with it; nothing of PayPal's would set the cancellation again.
    const set = (row: SubscriptionRow) => p.subscriptionId === null ? { providerSubscriptionId: null, providerPeriodEnd: null } : {
      providerPeriodEnd: period.end, providerUpdatedAt: row.providerUpdatedAt && row.providerUpdatedAt > p.at ? row.providerUpdatedAt : p.at,
      cancelAtPeriodEnd: row.cancelAtPeriodEnd,
    };
    if (await this.payments.activate(tx, tenantId, payment, period, actor, { applies: rules.current, set })) return 'applied: payment activated the period';
    if (rules.follows(sub) && !rules.ended(sub) && sub.currentPeriodStart.getTime() === period.start.getTime()) {
      // The period the subscription is in, its state applied already by a newer event
      // (the update the payment caused, delivered first): the payment brings its credits.
      await this.payments.grantFor(tx, tenantId, payment, period, actor);
      return 'applied: payment of the current period, its credits granted';
    }
    // A payment of a subscription whose state is held (takeover): it may be what lets that subscription take over.
    const held = p.subscriptionId !== null && !rules.follows(sub) ? await heldState(tx, tenantId, provider, p.subscriptionId) : null;
    if (held) {
      const judged = await this.applyState(tx, tenantId, provider, held);
      if (judged.startsWith('held')) return `recorded, its subscription still ${judged}`;
      if (!judged.startsWith('applied')) return `recorded, the state held of its subscription ${judged}`;
      return `applied: payment of a subscription held back, which took over (${(await lockSubscription(tx, tenantId))!.status} on it)`;
    }
    return 'recorded: payment of an earlier period or another subscription';
  }
}

/** What a provider payment is to the subscription as it is: of the subscription followed, of one ended, current (not older). */
interface PaymentRules { follows: (row: SubscriptionRow) => boolean; ended: (row: SubscriptionRow) => boolean; current: (row: SubscriptionRow) => boolean }

/**
 * Whether a provider's state or payment is older than what the subscription has: of a
 * period begun before the provider's current one, else made before the newest state
 * applied (the provider's own times, never arrival). Periods begin in order; they do not
 * end in order: a switch from a yearly price to a monthly one begins a period that ends
 * sooner, and it is the newer. A state's time alone would order states (Stripe's
 * snapshot made later is of later), not payments: a payment's time says when it was
 * paid, not which period — an invoice left open and paid after the renewal must not take
 * the subscription back.
 */
function isOlder(row: SubscriptionRow, s: { period?: Period | undefined; at: Date }, lostTie: () => boolean = () => false): boolean {
  if (s.period) {
    // None reported yet by the subscription followed (PayPal's activation names none): this is of its first.
    if (!row.providerPeriodEnd) return false;
    const began = s.period.start.getTime() - row.currentPeriodStart.getTime();
    if (began !== 0) return began < 0;
  }
  if (row.providerUpdatedAt === null) return false;
  const made = s.at.getTime() - row.providerUpdatedAt.getTime();
  return made < 0 || (made === 0 && lostTie());
}

/**
 * Of two states of one subscription made in the same instant (Stripe's `created` is whole
 * seconds, and so are PayPal's times), which was made last, where their times cannot say
 * and arrival must not: the provider's last word on a subscription (a deletion, an
 * expiry, PayPal's cancellation — nothing of it comes after) outranks any other state,
 * and its first state (Stripe's `incomplete`, before its first payment) is outranked by
 * any other. A state that ranks lower than the one applied lost the tie; of equal rank,
 * the later arrival applies.
 */
function tieRank(x: Pick<SubscriptionRow, 'status' | 'cancelAtPeriodEnd' | 'paymentMethod' | 'providerSubscriptionId'>): number {
  if (x.status === 'canceled' || (x.cancelAtPeriodEnd && keptByProvider(x) && !endsItsOwnPeriod(x))) return 2;
  return x.status === 'pending_payment' ? 0 : 1;
}

/**
 * Whether the tenant owes for its plan: not served by what it paid (past due, suspended,
 * awaiting a payment, canceled), or its period or trial over.
 */
function owesForPlan(row: SubscriptionRow, at: Date): boolean {
  if (row.status === 'active') return row.currentPeriodEnd <= at;
  if (row.status === 'trialing') return row.trialEndsAt !== null && row.trialEndsAt <= at;
  return true;
}

/** Why a payment pays for no period of `plan`: it does not cover its price in its currency (null: it does). */
function shortOfPrice(plan: Plan, paid: { amount: number; currency: string }): string | null {
  if (coversPrice(plan.price, paid)) return null;
  return plan.price
    ? `not applied: ${paid.amount} ${paid.currency} does not cover the ${plan.id} plan's price of ${plan.price.amount} ${plan.price.currency}`
    : `not applied: the ${plan.id} plan has no price`;
}

/**
 * The held payment a state opens a period with (applyHeldPayments): the latest of a period
 * begun after the subscription's `current` one, or any, when the state switched to the
 * subscription naming no period (`periodless`).
 */
function laterHeld(held: PaymentRow[], current: { start: Date }, periodless: boolean): PaymentRow | undefined {
  return held.filter((h) => h.periodStart && h.periodEnd && (periodless || beginsAfter(h, current))).at(-1);
}

/** The plan a held payment pays for: a PayPal sale names none, so the plan its subscription's state names; a Stripe invoice its own. */
function heldPlan(provider: Provider, s: ProviderState, h: PaymentRow): string {
  return provider === 'paypal' ? s.plan ?? h.plan : h.plan;
}

/** Whether a payment is of a period begun after `period`: a later one paid for. */
function beginsAfter(payment: PaymentRow, period: { start: Date }): boolean {
  return payment.periodStart !== null && payment.periodEnd !== null && payment.periodStart > period.start;
}

/** Whether the subscription follows this provider's subscription: its payments and states move it. */
function followsSubscription(row: SubscriptionRow, provider: Provider, subscriptionId: string): boolean {
  return row.paymentMethod === provider && row.providerSubscriptionId === subscriptionId;
}

/** What tells a trial the provider keeps. */
type TrialOf = Pick<SubscriptionRow, 'status' | 'paymentMethod' | 'providerSubscriptionId' | 'trialEndsAt'>;

/** A trial the provider keeps, and a payment of a period inside it. */
function inProviderTrial(row: TrialOf, period: Period): boolean {
  return row.status === 'trialing' && keptByProvider(row) && row.trialEndsAt !== null && period.end <= row.trialEndsAt;
}

/**
 * past_due since when it first became so: a subscription suspended since (its grace run
 * out) that the provider says is past due again owes from then, with no new grace. A
 * cancellation remembers what it ended.
 */
function statusFields(row: SubscriptionRow, to: SubscriptionStatus, at: Date): Partial<SubscriptionRow> {
  const out: Partial<SubscriptionRow> = {};
  const owing = (row.status === 'past_due' || row.status === 'suspended') && row.pastDueSince !== null;
  if (to === 'past_due') out.pastDueSince = owing ? row.pastDueSince : at;
  else if (to === 'suspended') out.pastDueSince = owing ? row.pastDueSince : null;
  else out.pastDueSince = null;
  if (to === 'canceled' && row.status !== 'canceled') Object.assign(out, { canceledAt: at, canceledFrom: row.status });
  if (to !== 'canceled') Object.assign(out, { canceledAt: null, canceledFrom: null });
  return out;
}
