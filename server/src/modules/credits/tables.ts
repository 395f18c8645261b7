import { bigint, boolean, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

const credits = (name: string) => bigint(name, { mode: 'number' });

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
  requestHash: text('request_hash').notNull(),
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
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

/** Append-only: balance = Σ amount and reserved = Σ hold, per tenant. */
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
  /** The payment a paid period's grant came with. */
  paymentId: text('payment_id'),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);
