import type { Executor } from '../../db/client.js';
import { rememberedByString } from '../../lib/cache.js';
import type { Clock } from '../../lib/clock.js';
import { keysetPage } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { CallContext } from '../../lib/principal.js';
import { err, ok, type Result } from '../../lib/result.js';
import { sha256Hex } from '../../lib/secrets.js';
import type { Actor, AuditService } from '../audit/index.js';
import type { Quantity } from './cost.js';
import * as repo from './repo.js';
import type { LedgerKind } from './tables.js';

export interface CreditBalance { balance: number; reserved: number; available: number }

export interface LedgerEntry {
  id: string; kind: LedgerKind; amount: number; hold: number; balanceAfter: number; reservedAfter: number;
  reservationId: string | null; idempotencyKey: string; reason: string | null;
  actor: { type: string; id: string | null }; createdAt: string;
  /** The payment a paid period's grant came with, or whose refund took its credits back. */
  paymentId: string | null;
}

export interface BalanceChange {
  tenantId: string;
  /** Positive adds credits; negative takes them away (never below what is reserved). */
  amount: number;
  idempotencyKey: string;
  reason: string | null;
  actor: Actor;
  kind?: 'grant' | 'adjust';
  paymentId?: string | null;
}

export type ChangeResult = Result<{ entry: LedgerEntry; credits: CreditBalance; replayed: boolean }, { code: 'INSUFFICIENT_CREDITS'; credits: CreditBalance }>;

/** A fingerprint of what a request asks for: the same idempotency key must always carry the same one. */
export function requestHash(parts: Record<string, unknown>): string {
  return sha256Hex(canonicalOf(parts));
}

/**
 * requestHash for what a decision asks (an operation, a model, a quantity, an amount):
 * every admitted decision fingerprints its reservation from one of a few such values, so
 * each is hashed once and remembered. Not for what a person wrote (a bank transfer's
 * payer): that would stay in memory after its request.
 */
export function decisionHash(parts: Record<string, unknown>): string {
  return rememberedSha256(canonicalOf(parts));
}

const rememberedSha256 = rememberedByString(sha256Hex);

/** A quantity as its fingerprints hold it: its units in order, however the request listed them (a retry may list them otherwise). */
export function canonicalQuantity(quantity: Quantity | undefined): [string, number][] | null {
  return quantity ? Object.entries(quantity).sort(([a], [b]) => a.localeCompare(b)) : null;
}

function canonicalOf(parts: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(parts).sort().map((k) => [k, parts[k] ?? null]));
}

/** The credit account and its append-only ledger: grants, adjustments, refunds, balances. */
export class CreditsService {
  constructor(
    private readonly clock: Clock,
    private readonly audit: AuditService,
    /** Told, in its transaction, of every change to a tenant's account (credits.low events, modules/webhooks). */
    private readonly accountChanged: (tx: Executor, tenantId: string) => Promise<void> = async () => undefined,
  ) {}

  /** After a change to the tenant's account, in its transaction (reservations.ts calls it too). */
  async changed(tx: Executor, tenantId: string): Promise<void> {
    await this.accountChanged(tx, tenantId);
  }

  async open(tx: Executor, tenantId: string): Promise<void> {
    await repo.openAccount(tx, tenantId, this.clock.now());
  }

  async balance(tx: Executor, tenantId: string): Promise<CreditBalance> {
    const { balance, reserved } = await repo.account(tx, tenantId);
    return { balance, reserved, available: balance - reserved };
  }

  async ledger(tx: Executor, tenantId: string, q: { cursor?: string | undefined; limit: number }): Promise<{ entries: LedgerEntry[]; nextCursor: string | null }> {
    const page = await keysetPage(q, (before, limit) => repo.listEntries(tx, tenantId, before, limit));
    return { entries: page.items.map(toEntry), nextCursor: page.nextCursor };
  }

  /**
   * Grants or adjusts the balance once per idempotency key (namespaced by the caller,
   * e.g. `period:` or `admin:`): a replay returns the first entry, the same key with
   * another amount is IDEMPOTENCY_CONFLICT.
   */
  async change(tx: Executor, c: BalanceChange): Promise<ChangeResult> {
    if (!Number.isSafeInteger(c.amount) || c.amount === 0) throw new AppError('VALIDATION_FAILED', 'amount must be a non-zero integer');
    const kind = c.kind ?? (c.amount > 0 ? 'grant' : 'adjust');
    const hash = requestHash({ kind, amount: c.amount });
    await repo.lockKey(tx, c.tenantId, c.idempotencyKey);
    const previous = await this.replay(tx, c.tenantId, c.idempotencyKey, hash);
    if (previous) return ok({ entry: previous, credits: await this.balance(tx, c.tenantId), replayed: true });
    const now = this.clock.now();
    const entry: repo.EntryInput = {
      tenantId: c.tenantId, id: newId('led', now.getTime()), kind, amount: c.amount, hold: 0, reservationId: null,
      key: c.idempotencyKey, hash, reason: c.reason, actorType: c.actor.type, actorId: c.actor.id, now, paymentId: c.paymentId ?? null,
    };
    if (c.amount > 0) {
      if (!await repo.credit(tx, entry)) throw new AppError('VALIDATION_FAILED', `amount: the balance would pass ${Number.MAX_SAFE_INTEGER}`);
    } else if (!await repo.debit(tx, entry)) {
      return err({ code: 'INSUFFICIENT_CREDITS', credits: await this.balance(tx, c.tenantId) });
    }
    await this.changed(tx, c.tenantId);
    return ok({ entry: toEntry((await repo.entryByKey(tx, c.tenantId, c.idempotencyKey))!), credits: await this.balance(tx, c.tenantId), replayed: false });
  }

  /** An operator's grant or negative adjustment, with its reason, audited in the same transaction. */
  async adjust(tx: Executor, c: { tenantId: string; amount: number; reason: string; idempotencyKey: string; operatorId: string }, ctx: CallContext): Promise<ChangeResult> {
    const result = await this.change(tx, {
      tenantId: c.tenantId, amount: c.amount, idempotencyKey: `admin:${c.idempotencyKey}`, reason: c.reason,
      actor: { type: 'operator', id: c.operatorId },
    });
    if (result.ok && !result.value.replayed) {
      await this.audit.record(tx, {
        tenantId: c.tenantId, actor: { type: 'operator', id: c.operatorId }, action: 'credits.adjust',
        target: { type: 'ledger_entry', id: result.value.entry.id }, data: { amount: c.amount, reason: c.reason }, requestId: ctx.requestId,
      });
    }
    return result;
  }

  /**
   * The plan's credits for one period, exactly once per tenant and period (the key is the
   * period); a paid period's grant names its payment.
   */
  async grantForPeriod(tx: Executor, tenantId: string, periodStart: Date, amount: number, payment?: { id: string; actor: Actor }): Promise<void> {
    if (amount <= 0) return;
    let key = periodGrantKey(periodStart);
    const granted = await repo.entryByKey(tx, tenantId, key);
    // A paid period beginning the very instant another did (a trial, a free period) is
    // granted all the same, once per payment; the period's own key stays what it was.
    if (granted && payment && granted.paymentId !== payment.id) key = `${key}:${payment.id}`;
    else if (granted) return;
    if (key !== periodGrantKey(periodStart) && await repo.entryByKey(tx, tenantId, key)) return;
    // A plan change racing the first grant may ask for another amount: the first grant stands.
    await this.change(tx, {
      tenantId, amount, idempotencyKey: key, reason: payment ? 'plan credits for the paid period' : 'plan credits for the period',
      actor: payment?.actor ?? { type: 'system', id: null }, kind: 'grant', paymentId: payment?.id ?? null,
    })
      .catch((error: unknown) => {
        if (!(error instanceof AppError && error.code === 'IDEMPOTENCY_CONFLICT')) throw error;
      });
  }

  /**
   * Takes back the credits a payment's grants added (its refund, or a chargeback), once
   * per payment, as far as the ledger's invariants allow: never below what open
   * reservations hold. The balance never goes negative, and a hold is credit promised to a
   * run already admitted, which its settlement must find; what was spent already is gone
   * and is not recovered from a balance the tenant does not have. What was taken, 0 when
   * nothing was available (no entry then).
   */
  async takeBack(tx: Executor, tenantId: string, paymentId: string, actor: Actor, reason: string): Promise<number> {
    const key = `takeback:${paymentId}`;
    const previous = await repo.entryByKey(tx, tenantId, key);
    if (previous) return -Number(previous.amount);
    // Reservations wait until this transaction ends: what is available cannot shrink under the debit.
    await repo.lockAccount(tx, tenantId);
    const { available } = await this.balance(tx, tenantId);
    const amount = Math.min(await repo.grantedFor(tx, tenantId, paymentId), available);
    if (amount <= 0) return 0;
    const result = await this.change(tx, { tenantId, amount: -amount, idempotencyKey: key, reason, actor, kind: 'adjust', paymentId });
    if (!result.ok) throw new Error(`credits available to take back changed under the account's lock (${tenantId})`);
    return amount;
  }

  async hasPeriodGrant(tx: Executor, tenantId: string, periodStart: Date): Promise<boolean> {
    return (await repo.entryByKey(tx, tenantId, periodGrantKey(periodStart))) !== undefined;
  }

  async replay(tx: Executor, tenantId: string, key: string, hash: string): Promise<LedgerEntry | undefined> {
    const previous = await repo.entryByKey(tx, tenantId, key);
    if (!previous) return undefined;
    if (previous.requestHash !== hash) throw new AppError('IDEMPOTENCY_CONFLICT');
    return toEntry(previous);
  }
}

export const periodGrantKey = (periodStart: Date) => `period:${periodStart.toISOString()}`;

export function toEntry(row: repo.LedgerRow): LedgerEntry {
  return {
    id: row.id, kind: row.kind, amount: Number(row.amount), hold: Number(row.hold), balanceAfter: Number(row.balanceAfter),
    reservedAfter: Number(row.reservedAfter), reservationId: row.reservationId, idempotencyKey: row.idempotencyKey,
    reason: row.reason, actor: { type: row.actorType, id: row.actorId }, createdAt: row.createdAt.toISOString(),
    paymentId: row.paymentId,
  };
}
