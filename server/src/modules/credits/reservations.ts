import type { Executor } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import type { Actor } from '../audit/index.js';
import type { PlansService } from '../plans/index.js';
import { quote, type Quantity } from './cost.js';
import * as repo from './repo.js';
import { canonicalQuantity, decisionHash, requestHash, toEntry, type CreditBalance, type CreditsService, type LedgerEntry } from './service.js';
import type { ReservationStatus } from './tables.js';
import { checkSettleCharge, checkTtlSeconds } from './views.js';

export interface ReservationView {
  id: string; status: ReservationStatus; credits: number; charged: number; refunded: number;
  operation: string | null; model: string | null; expiresAt: string; createdAt: string; resolvedAt: string | null;
}

export interface DecisionReservation {
  tenantId: string; reservationId: string; status: ReservationStatus; expiresAt: Date; route: Record<string, unknown> | null;
}

export interface ReserveInput {
  tenantId: string;
  amount: number;
  idempotencyKey: string;
  operation?: string | null | undefined;
  model?: string | null | undefined;
  quantity?: Quantity | undefined;
  ttlSeconds?: number | undefined;
  actor: Actor;
}

/** A reservation as a call left it, with the account after it; `replayed` when an earlier call made it. */
export interface Reserved { reservation: ReservationView; credits: CreditBalance; replayed: boolean }

export type ReserveResult = Result<Reserved, { code: 'INSUFFICIENT_CREDITS'; credits: CreditBalance }>;

export type ResolveResult = Result<Reserved, 'RESERVATION_NOT_FOUND' | 'RESERVATION_EXPIRED' | 'RESERVATION_RESOLVED'>;

/** A reservation as its resolution left it, with what it was opened for (the run's usage record is made of it). */
export interface Resolution {
  tenantId: string;
  reservationId: string;
  /** An expiry is not told here: db/functions/expire.sql frees its slot and writes its record itself. */
  status: 'settled' | 'released';
  /** Credits held, and finally charged (0 unless settled). */
  reserved: number;
  charged: number;
  /** The quantity the settlement was priced by, when it named one. */
  quantity: Quantity | null;
  operation: string | null;
  model: string | null;
  idempotencyKey: string;
  actorType: string | null;
  actorId: string | null;
  role: string | null;
  meter: string | null;
  bypass: boolean;
  route: Record<string, unknown> | null;
  reservedAt: Date;
  resolvedAt: Date;
}

/**
 * Told, inside the resolving transaction, that a reservation is settled or released (to
 * free its run slot, to record the run's usage).
 */
export type ResolveListener = (tx: Executor, tenantId: string, reservationId: string, resolution: Resolution) => Promise<void>;

/** Reserve before the AI call, settle (or release) after; what is left unsettled expires. */
export class ReservationsService {
  constructor(
    private readonly clock: Clock,
    private readonly plans: PlansService,
    private readonly credits: CreditsService,
    private readonly defaultTtlSeconds: number,
    /** Told of every reservation resolved, in its transaction (the run slot it held is freed). */
    private readonly resolved: ResolveListener,
  ) {}

  async reserve(tx: Executor, input: ReserveInput): Promise<ReserveResult> {
    if (!Number.isSafeInteger(input.amount) || input.amount < 0) throw new AppError('VALIDATION_FAILED', 'amount must be a non-negative integer');
    if (input.ttlSeconds !== undefined) checkTtlSeconds(input.ttlSeconds);
    const hash = reservationHash(input);
    await repo.lockKey(tx, input.tenantId, `reserve:${input.idempotencyKey}`);
    const previous = await repo.reservationByKey(tx, input.tenantId, input.idempotencyKey);
    if (previous) {
      if (previous.requestHash !== hash) throw new AppError('IDEMPOTENCY_CONFLICT');
      return ok({ reservation: toView(previous), credits: await this.credits.balance(tx, input.tenantId), replayed: true });
    }
    const now = this.clock.now();
    const id = newId('res', now.getTime());
    const hold = () => repo.reserve(tx, {
      tenantId: input.tenantId, id, key: input.idempotencyKey, hash, operation: input.operation ?? null, model: input.model ?? null, amount: input.amount,
      expiresAt: new Date(now.getTime() + (input.ttlSeconds ?? this.defaultTtlSeconds) * 1000), actorType: input.actor.type, actorId: input.actor.id, now,
    });
    // Refused as the account stands: holds past their expiry count in it until the sweeper
    // comes; they are let go now, as it would, and the hold tried again (a refusal pays for it).
    let written = await hold();
    if (!written && await this.expireDue(tx, input.tenantId, now)) written = await hold();
    if (written) await this.credits.changed(tx, input.tenantId);
    const credits = await this.credits.balance(tx, input.tenantId);
    if (!written) return err({ code: 'INSUFFICIENT_CREDITS', credits });
    return ok({ reservation: toView((await repo.reservationById(tx, input.tenantId, id))!), credits, replayed: false });
  }

  /**
   * The reservation an admitted decision opened (a denied one opened none), with the
   * route the decision named; any tenant's when `tenantId` is null (a system transaction).
   */
  async byDecision(tx: Executor, decisionId: string, tenantId: string | null): Promise<DecisionReservation | undefined> {
    const row = await repo.reservationByDecision(tx, decisionId, tenantId);
    return row && { tenantId: row.tenantId, reservationId: row.id, status: row.status, expiresAt: row.expiresAt, route: row.route ?? null };
  }

  async find(tx: Executor, tenantId: string, id: string): Promise<ReservationView | undefined> {
    const row = await repo.reservationById(tx, tenantId, id);
    return row && toView(row);
  }

  /**
   * A reservation as a settle would find it now: one still held past its expiry is
   * expired first (what settle and the sweeper do), so `held` means a settle can charge it.
   */
  async current(tx: Executor, tenantId: string, id: string): Promise<ReservationView | undefined> {
    const row = await repo.reservationById(tx, tenantId, id);
    if (row?.status === 'held' && row.expiresAt <= this.clock.now()) {
      await this.expire(tx, tenantId, id);
      return this.find(tx, tenantId, id);
    }
    return row && toView(row);
  }

  /**
   * Charges the actual cost — `credits`, else the operation's price for `quantity`, else
   * the whole hold — capped at what was reserved; the rest goes back to available.
   */
  async settle(tx: Executor, tenantId: string, id: string, actual: { quantity?: Quantity | undefined; credits?: number | undefined }, actor: Actor): Promise<ResolveResult> {
    // The route's schema: an in-process call reaches here with whatever it was given (a
    // negative token count would take from the price).
    checkSettleCharge(actual);
    const row = await repo.reservationById(tx, tenantId, id);
    if (!row) return err('RESERVATION_NOT_FOUND');
    const charge = Math.min(Number(row.amount), this.chargeOf(row, actual));
    const settledAlike = (r: repo.ReservationRow) => r.status === 'settled' && (Number(r.charged) === charge || conflict());
    if (row.status === 'held' && row.expiresAt <= this.clock.now()) {
      if (await this.expire(tx, tenantId, id)) return err('RESERVATION_EXPIRED');
      // Resolved since it was read (a twin settling while it was live): that outcome answers.
      return this.outcome(tx, tenantId, id, false, settledAlike);
    }
    const won = row.status === 'held' && await this.resolve(tx, row, 'settled', charge, actor, actual.quantity);
    return this.outcome(tx, tenantId, id, won, settledAlike);
  }

  async release(tx: Executor, tenantId: string, id: string, actor: Actor): Promise<ResolveResult> {
    const row = await repo.reservationById(tx, tenantId, id);
    if (!row) return err('RESERVATION_NOT_FOUND');
    const won = row.status === 'held' && await this.resolve(tx, row, 'released', 0, actor);
    return this.outcome(tx, tenantId, id, won, (r) => r.status === 'released' || r.status === 'expired');
  }

  /** Releases a held reservation whose time is up (at `at`, default now); false when it was resolved otherwise. */
  async expire(tx: Executor, tenantId: string, id: string, at: Date = this.clock.now()): Promise<boolean> {
    return (await this.expired(tx, tenantId, [id], at)) > 0;
  }

  /**
   * Releases every hold of the tenant past its expiry at `at` (default now), as the sweeper
   * would, without waiting for one another transaction is resolving; how many it released.
   */
  async expireDue(tx: Executor, tenantId: string, at: Date = this.clock.now()): Promise<number> {
    return this.expired(tx, tenantId, null, at);
  }

  /** The one expiry (db/functions/expire.sql), which the decision's statement runs too. */
  private async expired(tx: Executor, tenantId: string, ids: string[] | null, at: Date): Promise<number> {
    const expired = await repo.expire(tx, tenantId, ids, at);
    if (expired > 0) await this.credits.changed(tx, tenantId);
    return expired;
  }

  /** Gives back (part of) a settled charge, once per idempotency key, never more than was charged. */
  async refund(tx: Executor, r: { tenantId: string; reservationId: string; amount: number; idempotencyKey: string; reason: string | null; actor: Actor }): Promise<{ entry: LedgerEntry; credits: CreditBalance; replayed: boolean }> {
    if (!Number.isSafeInteger(r.amount) || r.amount <= 0) throw new AppError('VALIDATION_FAILED', 'amount must be a positive integer');
    const key = `refund:${r.idempotencyKey}`;
    const hash = requestHash({ reservationId: r.reservationId, amount: r.amount });
    await repo.lockKey(tx, r.tenantId, key);
    const previous = await this.credits.replay(tx, r.tenantId, key, hash);
    if (previous) return { entry: previous, credits: await this.credits.balance(tx, r.tenantId), replayed: true };
    const now = this.clock.now();
    const written = await repo.refund(tx, {
      tenantId: r.tenantId, id: newId('led', now.getTime()), kind: 'refund', amount: r.amount, hold: 0, reservationId: r.reservationId,
      key, hash, reason: r.reason, actorType: r.actor.type, actorId: r.actor.id, now,
    });
    if (!written) {
      if (!(await repo.reservationById(tx, r.tenantId, r.reservationId))) throw new AppError('RESERVATION_NOT_FOUND');
      throw new AppError('REFUND_EXCEEDS_CHARGE');
    }
    await this.credits.changed(tx, r.tenantId);
    return { entry: toEntry((await repo.entryByKey(tx, r.tenantId, key))!), credits: await this.credits.balance(tx, r.tenantId), replayed: false };
  }

  /**
   * The runs the tenant's decisions opened that are still held and live, each kept from
   * resolving until `tx` ends. The account is locked first, as a decision locks it before
   * a slot count (the caller takes the slot count next): every run admitted before is seen.
   */
  async openRuns(tx: Executor, tenantId: string): Promise<{ id: string; expiresAt: Date }[]> {
    await repo.lockAccount(tx, tenantId);
    return repo.openRuns(tx, tenantId, this.clock.now());
  }

  async due(tx: Executor, at: Date, limit: number): Promise<{ tenantId: string; id: string }[]> {
    return repo.dueReservations(tx, at, limit);
  }

  private chargeOf(row: repo.ReservationRow, actual: { quantity?: Quantity | undefined; credits?: number | undefined }): number {
    if (actual.credits !== undefined) return actual.credits;
    if (actual.quantity === undefined) return Number(row.amount);
    if (!row.operation) throw new AppError('VALIDATION_FAILED', 'this reservation names no operation: settle it with credits');
    // Priced for the account the decision's route ran it on (the reservation keeps the route, migration 0011).
    const billing = row.route?.billing === 'tenant' ? 'tenant' : 'platform';
    return quote(this.plans, { operation: row.operation, quantity: actual.quantity, model: row.model ?? undefined }, billing, { atMost: Number(row.amount) }).credits;
  }

  private async resolve(tx: Executor, row: repo.ReservationRow, status: 'settled' | 'released', charge: number, actor: Actor, quantity?: Quantity): Promise<boolean> {
    const now = this.clock.now();
    // Only a settlement moves the balance, so only a settlement is ledgered.
    const settlement = status === 'settled' ? {
      tenantId: row.tenantId, id: newId('led', now.getTime()), kind: 'settle' as const, amount: -charge, hold: -Number(row.amount), reservationId: row.id,
      key: `settle:${row.id}`, hash: requestHash({ charge }), reason: null, actorType: actor.type, actorId: actor.id, now,
    } : null;
    const won = await repo.resolve(tx, {
      tenantId: row.tenantId, reservationId: row.id, status, charge, when: status === 'settled' ? 'live' : 'any', now,
    }, settlement);
    if (won) {
      await this.resolved(tx, row.tenantId, row.id, {
        tenantId: row.tenantId, reservationId: row.id, status, reserved: Number(row.amount), charged: charge, quantity: quantity ?? null,
        operation: row.operation, model: row.model, idempotencyKey: row.idempotencyKey, actorType: row.actorType, actorId: row.actorId,
        role: row.role, meter: row.meter, bypass: row.bypass, route: row.route, reservedAt: row.createdAt, resolvedAt: now,
      });
      await this.credits.changed(tx, row.tenantId);
    }
    return won;
  }

  /** The caller's answer after the gate: its own win, a compatible earlier outcome (a replay), or who won instead. */
  private async outcome(tx: Executor, tenantId: string, id: string, won: boolean, compatible: (r: repo.ReservationRow) => boolean): Promise<ResolveResult> {
    const row = (await repo.reservationById(tx, tenantId, id))!;
    const credits = await this.credits.balance(tx, tenantId);
    if (won) return ok({ reservation: toView(row), credits, replayed: false });
    if (row.status === 'held') return err('RESERVATION_EXPIRED');
    if (compatible(row)) return ok({ reservation: toView(row), credits, replayed: true });
    return err(row.status === 'expired' ? 'RESERVATION_EXPIRED' : 'RESERVATION_RESOLVED');
  }
}

/** The fingerprint a reserve call's idempotency key is held to (a decision's reservation has none: 0022). */
function reservationHash(r: { amount: number; operation?: string | null | undefined; model?: string | null | undefined; quantity?: Quantity | undefined }): string {
  return decisionHash({ amount: r.amount, operation: r.operation, model: r.model, quantity: canonicalQuantity(r.quantity) });
}

function conflict(): never {
  throw new AppError('IDEMPOTENCY_CONFLICT', 'the reservation was already settled for another amount');
}

export function toView(row: repo.ReservationRow): ReservationView {
  return {
    id: row.id, status: row.status, credits: Number(row.amount), charged: Number(row.charged), refunded: Number(row.refunded),
    operation: row.operation, model: row.model, expiresAt: row.expiresAt.toISOString(), createdAt: row.createdAt.toISOString(),
    resolvedAt: row.resolvedAt?.toISOString() ?? null,
  };
}
