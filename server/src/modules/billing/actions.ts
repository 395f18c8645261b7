import type { Db, Executor } from '../../db/client.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { ChangeFeed } from '../../lib/changes.js';
import { DAY_MS, type Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { CallContext } from '../../lib/principal.js';
import type { Actor } from '../audit/index.js';
import type { PlansService } from '../plans/index.js';
import type { SubscriptionLifecycle, Transition } from './lifecycle.js';
import { findSubscription, listTransitionsDue, type DueKind, type SubscriptionRow } from './repo.js';
import { addMonthUtc, endsItsOwnPeriod, keptByProvider } from './service.js';
import { toSubscription, type Subscription } from './view.js';

const SWEEP_BATCH = 200;
const SYSTEM: Actor = { type: 'system', id: null };

export interface TrialRequest { endsAt?: string | undefined; days?: number | undefined; plan?: string | undefined }

/**
 * What follows the end of a period or a trial on time paid for that Tollgate keeps
 * (modules/payments: transfers, payments of no subscription), in the tenant's
 * transaction; each true when it changed the subscription, after checking its condition
 * again under the row's lock.
 */
export interface PaidTime {
  /**
   * A paid period ended by `at`: the next period paid for begins, else past_due; false,
   * changing nothing, when it is set to cancel and nothing more is paid for.
   */
  periodEnded(tx: Executor, tenantId: string, at: Date): Promise<boolean>;
  /**
   * A trial ends at `at` (`due`: only one that ran out by then) while a period paid for
   * runs (an operator's trial given over it): back on that period, its plan and its
   * credits; false, changing nothing, when none runs.
   */
  trialEnded(tx: Executor, tenantId: string, at: Date, due: boolean, actor: Actor, requestId?: string): Promise<boolean>;
}

/**
 * What owners and operators do to a subscription (cancel, resume, trials) and what time
 * does to it (the sweeper). Each is one transaction of the tenant, through the lifecycle.
 */
export class SubscriptionActions {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly plans: PlansService,
    private readonly lifecycle: SubscriptionLifecycle,
    private readonly changes: ChangeFeed,
    private readonly pastDueGraceSeconds: number,
    private readonly paid: PaidTime,
  ) {}

  async get(tenantId: string): Promise<Subscription> {
    const row = await inTenant(this.db, tenantId, (tx) => findSubscription(tx, tenantId));
    if (!row) throw new AppError('SUBSCRIPTION_NOT_FOUND');
    return toSubscription(row);
  }

  /** Now (the tenant must pay again to go on), or at the period's end (resumable until then). */
  cancel(tenantId: string, atPeriodEnd: boolean, actor: Actor, ctx: CallContext): Promise<Subscription> {
    return this.change(tenantId, (row, now) => {
      assertKeptByTollgate(row, 'cancel');
      if (atPeriodEnd) {
        if (row.cancelAtPeriodEnd && (row.status === 'active' || row.status === 'trialing')) return null;
        return { event: 'cancel_scheduled', to: row.status, set: { cancelAtPeriodEnd: true }, actor, requestId: ctx.requestId };
      }
      return { event: 'canceled', to: 'canceled', set: canceledNow(row, now), actor, requestId: ctx.requestId };
    });
  }

  /** Undoes a cancellation before it took effect, or one made now, while the period it ended has not. */
  resume(tenantId: string, actor: Actor, ctx: CallContext): Promise<Subscription> {
    return this.change(tenantId, (row, now) => {
      assertKeptByTollgate(row, 'resume');
      const resumed = (to: 'active' | 'trialing'): Transition => ({ event: 'resumed', to, set: { canceledAt: null, canceledFrom: null }, actor, requestId: ctx.requestId });
      if (row.cancelAtPeriodEnd && (row.status === 'active' || row.status === 'trialing')) {
        return { event: 'resumed', to: row.status, set: { cancelAtPeriodEnd: false }, actor, requestId: ctx.requestId };
      }
      const from = row.status === 'canceled' ? row.canceledFrom : null;
      // What was paid for (a period, a trial) and not over yet; never what owed money.
      if (from === 'active' && now < row.currentPeriodEnd) return resumed('active');
      if (from === 'trialing' && row.trialEndsAt !== null && now < row.trialEndsAt) return resumed('trialing');
      throw new AppError('INVALID_TRANSITION', `resumed: nothing to resume for a ${row.status} subscription (no cancellation pending, none that ended a period or trial still running)`);
    });
  }

  /** An operator's trial: the tenant is `trialing` on `plan` (default: its own) until `endsAt`, or for `days`. */
  setTrial(tenantId: string, request: TrialRequest, operatorId: string, ctx: CallContext): Promise<Subscription> {
    if ((request.endsAt === undefined) === (request.days === undefined)) throw new AppError('VALIDATION_FAILED', 'body: give exactly one of endsAt or days');
    if (request.plan !== undefined) this.plans.require(request.plan);
    const now = this.clock.now();
    const endsAt = request.endsAt !== undefined ? new Date(request.endsAt) : new Date(now.getTime() + request.days! * DAY_MS);
    if (Number.isNaN(endsAt.getTime()) || endsAt <= now) throw new AppError('INVALID_TRIAL_END');
    return this.change(tenantId, (row, at) => {
      assertKeptByTollgate(row, 'trial');
      return {
        event: 'trial_started', to: 'trialing', actor: { type: 'operator', id: operatorId }, requestId: ctx.requestId,
        set: {
          plan: request.plan ?? row.plan, trialEndsAt: endsAt, pastDueSince: null, cancelAtPeriodEnd: false, canceledAt: null, canceledFrom: null,
          // A trial begun (not extended) opens a period of its own, with the plan's credits.
          ...(row.status === 'trialing' ? {} : { currentPeriodStart: at, currentPeriodEnd: addMonthUtc(at) }),
          // Given after a provider ended its subscription, the trial is Tollgate's to keep (and
          // renew): the provider's ids stay, so a late event of theirs is still told apart.
          ...(keptByProvider(row) ? { paymentMethod: null } : {}),
        },
      };
    });
  }

  /** An operator ends a trial now: what follows is what the sweeper does when a trial runs out. */
  endTrial(tenantId: string, operatorId: string, ctx: CallContext): Promise<Subscription> {
    const actor: Actor = { type: 'operator', id: operatorId };
    return this.change(tenantId, (row, now) => {
      if (row.status !== 'trialing') throw new AppError('INVALID_TRANSITION', `trial ended: not allowed for a ${row.status} subscription`);
      assertKeptByTollgate(row, 'end trial');
      return this.trialEnded(row, now, actor, ctx.requestId);
    }, (tx, now) => this.paid.trialEnded(tx, tenantId, now, false, actor, ctx.requestId));
  }

  /**
   * Time-driven transitions due at `at`: trials that ran out, cancellations at the period's
   * end, paid periods Tollgate keeps that ended (the next one paid for, else past_due),
   * graces that ran out (suspended). Each under its row's lock, its condition checked again there: of several
   * processes sweeping at once, exactly one makes each transition.
   */
  async sweep(at: Date): Promise<number> {
    let made = 0;
    const kinds: DueKind[] = ['trial_ended', 'canceled_at_period_end', 'period_ended_unpaid', 'grace_ended'];
    for (const kind of kinds) {
      for (let round = 0; round < 100; round++) {
        const due = await inSystem(this.db, (tx) => listTransitionsDue(tx, kind, at, this.pastDueGraceSeconds, SWEEP_BATCH));
        for (const tenantId of due) {
          const changed = await this.commit(tenantId, async (tx) => {
            // A trial over a paid period ends back into it.
            if (kind === 'trial_ended' && await this.paid.trialEnded(tx, tenantId, at, true, SYSTEM)) return true;
            // A paid period set to cancel at its end is canceled once no period paid for follows it.
            const ended = kind === 'period_ended_unpaid' && await this.paid.periodEnded(tx, tenantId, at);
            const then = kind === 'period_ended_unpaid' ? 'canceled_at_period_end' : kind;
            return (await this.lifecycle.apply(tx, tenantId, (row) => this.due(then, row, at))) !== null || ended;
          });
          if (changed) made++;
        }
        if (due.length < SWEEP_BATCH) break;
      }
    }
    return made;
  }

  private due(kind: Exclude<DueKind, 'period_ended_unpaid'>, row: SubscriptionRow, at: Date): Transition | null {
    switch (kind) {
      case 'trial_ended':
        return row.status === 'trialing' && row.trialEndsAt !== null && row.trialEndsAt <= at && !keptByProvider(row) ? this.trialEnded(row, at, SYSTEM) : null;
      case 'canceled_at_period_end':
        if (!row.cancelAtPeriodEnd || row.currentPeriodEnd > at || (row.status !== 'active' && row.status !== 'past_due')) return null;
        if (endsItsOwnPeriod(row)) return null;
        return { event: 'canceled_at_period_end', to: 'canceled', set: { ...canceledNow(row, at), canceledAt: row.currentPeriodEnd }, actor: SYSTEM };
      case 'grace_ended': {
        const since = row.pastDueSince?.getTime() ?? -Infinity;
        if (row.status !== 'past_due' || since + this.pastDueGraceSeconds * 1000 > at.getTime()) return null;
        return { event: 'grace_ended', to: 'suspended', actor: SYSTEM };
      }
    }
  }

  /**
   * A trial over, with no period paid for running (one is gone back to: PaidTime): canceled
   * if so asked, else suspended until paid (a plan with a price), else simply active.
   */
  private trialEnded(row: SubscriptionRow, at: Date, actor: Actor, requestId?: string): Transition {
    const ended = { trialEndsAt: row.trialEndsAt !== null && row.trialEndsAt < at ? row.trialEndsAt : at };
    if (row.cancelAtPeriodEnd) return { event: 'trial_ended', to: 'canceled', set: { ...ended, ...canceledNow(row, at) }, actor, requestId };
    const priced = this.plans.get(row.plan)?.price !== undefined;
    return { event: 'trial_ended', to: priced ? 'suspended' : 'active', set: ended, actor, requestId };
  }

  /** One change through the lifecycle, unless `first` (in the same transaction) made one already. */
  private async change(tenantId: string, decide: (row: SubscriptionRow, now: Date) => Transition | null, first?: (tx: Executor, now: Date) => Promise<boolean>): Promise<Subscription> {
    return this.commit(tenantId, async (tx) => {
      const changed = first && await first(tx, this.clock.now()) ? null : await this.lifecycle.apply(tx, tenantId, decide);
      return changed ? changed.after : toSubscription((await findSubscription(tx, tenantId))!);
    });
  }

  /** A transaction of the tenant whose change every process hears of before this returns. */
  private commit<T>(tenantId: string, work: (tx: Executor) => Promise<T>): Promise<T> {
    return this.changes.commit({ kind: 'tenant', id: tenantId }, () => inTenant(this.db, tenantId, work));
  }
}

function canceledNow(row: SubscriptionRow, now: Date): Partial<SubscriptionRow> {
  return { canceledAt: now, canceledFrom: row.status === 'canceled' ? null : row.status, cancelAtPeriodEnd: false };
}

const THERE = { cancel: 'cancel it there', resume: 'resume it there', trial: 'give the trial there', 'end trial': 'end its trial there' } as const;

/**
 * Stripe and PayPal keep their subscriptions: Tollgate calls no provider API, so it cannot
 * cancel, resume or put on a trial what they bill, nor end their trial. One they ended
 * stays theirs to resume: resumed here, it would be served on with nobody billing it and
 * no event of theirs ever ending it; an operator's trial of it is Tollgate's own (setTrial).
 * (Cancelling one already canceled is left to the state machine, which refuses it as for
 * any canceled one.)
 */
function assertKeptByTollgate(row: SubscriptionRow, change: keyof typeof THERE): void {
  if (keptByProvider(row) && (change === 'resume' || change === 'end trial' || row.status !== 'canceled')) {
    throw new AppError('SUBSCRIPTION_MANAGED_BY_PROVIDER', `this subscription is kept by ${row.paymentMethod}: ${THERE[change]}`);
  }
}
