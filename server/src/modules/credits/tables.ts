import { bigint, boolean, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

const credits = (name: string) => bigint(name, { mode: 'number' });

/**
 * What an entry records. 'reserve', 'release' and 'expire' are history: entries written
 * while holds were ledgered too. Now the ledger records only what moves the balance,
 * and a hold is its reservation row.
 */
export type LedgerKind = 'grant' | 'reserve' | 'settle' | 'release' | 'expire' | 'refund' | 'adjust';
export type ReservationStatus = 'held' | 'settled' | 'released' | 'expired';

export const creditAccounts = pgTable('credit_accounts', {
  tenantId: text('tenant_id').primaryKey(),
  balance: credits('balance').notNull(),
  reserved: credits('reserved').notNull(),
  updatedAt: at('updated_at').notNull(),
});

export const creditReservations = pgTable('credit_reservations', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  idempotencyKey: text('idempotency_key').notNull(),
  /** The reserve call's fingerprint (its retries are checked against it); null on an admitted decision's reservation (0022: the decision keeps its own). */
  requestHash: text('request_hash'),
  operation: text('operation'),
  model: text('model'),
  amount: credits('amount').notNull(),
  status: text('status').$type<ReservationStatus>().notNull(),
  charged: credits('charged').notNull(),
  refunded: credits('refunded').notNull(),
  expiresAt: at('expires_at').notNull(),
  resolvedAt: at('resolved_at'),
  createdAt: at('created_at').notNull(),
  /** Who opened it, in what role, on which meter (a bypass or not), through which provider route (0011). */
  actorType: text('actor_type'),
  actorId: text('actor_id'),
  role: text('role'),
  meter: text('meter'),
  bypass: boolean('bypass').notNull(),
  route: jsonb('route').$type<Record<string, unknown>>(),
  /** The decision that opened it (0014): short-lived provider credentials are asked for by decision id. */
  decisionId: text('decision_id'),
  /** The decision's record (0019): who decided, the operation's module, the request (null before 0019 and for the reserve call's). */
  principalType: text('principal_type'),
  principalId: text('principal_id'),
  userId: text('user_id'),
  module: text('module'),
  requestId: text('request_id'),
  /** Its meter's usage event (0020): the meter's period, the count the admission made, the limit (null before 0020 and for the reserve call's). */
  periodStart: at('period_start'),
  usedAfter: bigint('used_after', { mode: 'number' }),
  limitValue: bigint('limit_value', { mode: 'number' }),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

/**
 * Append-only, one entry per change of a balance: balance = Σ amount per tenant. The
 * account's reserved is the sum of its held reservations (creditReservations); an entry's
 * `hold` is what it did to reserved (a settlement lets its hold go).
 */
export const creditLedger = pgTable('credit_ledger', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  kind: text('kind').$type<LedgerKind>().notNull(),
  amount: credits('amount').notNull(),
  hold: credits('hold').notNull(),
  balanceAfter: credits('balance_after').notNull(),
  reservedAfter: credits('reserved_after').notNull(),
  reservationId: text('reservation_id'),
  idempotencyKey: text('idempotency_key').notNull(),
  requestHash: text('request_hash').notNull(),
  reason: text('reason'),
  actorType: text('actor_type').notNull(),
  actorId: text('actor_id'),
  createdAt: at('created_at').notNull(),
  /** The payment a paid period's grant came with, or whose refund took its credits back. */
  paymentId: text('payment_id'),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);
