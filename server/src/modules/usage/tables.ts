import { bigint, boolean, date, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export type UsageOutcome = 'settled' | 'released' | 'expired';

/** One per reservation resolved: what the run was for and what it finally cost (0012). */
export const usageRecords = pgTable('usage_records', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  reservationId: text('reservation_id').notNull(),
  outcome: text('outcome').$type<UsageOutcome>().notNull(),
  meter: text('meter'),
  bypass: boolean('bypass').notNull(),
  operation: text('operation'),
  model: text('model'),
  route: jsonb('route').$type<Record<string, unknown>>(),
  quantity: jsonb('quantity').$type<Record<string, number>>(),
  reserved: bigint('reserved', { mode: 'number' }).notNull(),
  credits: bigint('credits', { mode: 'number' }).notNull(),
  actorType: text('actor_type'),
  actorId: text('actor_id'),
  role: text('role'),
  idempotencyKey: text('idempotency_key').notNull(),
  reservedAt: at('reserved_at').notNull(),
  createdAt: at('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

/** Per tenant, UTC day and key ('credits', 'meter:<m>', 'allowed', 'denied:<CODE>'): a running count. */
export const usageDays = pgTable('usage_days', {
  tenantId: text('tenant_id').notNull(),
  day: date('day', { mode: 'string' }).notNull(),
  key: text('key').notNull(),
  n: bigint('n', { mode: 'number' }).notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.day, t.key] })]);
