import { bigint, boolean, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export const decisionLog = pgTable('decision_log', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  principalType: text('principal_type').notNull(),
  principalId: text('principal_id'),
  userId: text('user_id'),
  operation: text('operation').notNull(),
  module: text('module'),
  model: text('model'),
  allowed: boolean('allowed').notNull(),
  code: text('code').notNull(),
  credits: bigint('credits', { mode: 'number' }),
  reservationId: text('reservation_id'),
  bypass: jsonb('bypass').$type<{ reason: string; meter: string } | null>(),
  idempotencyKey: text('idempotency_key'),
  replayed: boolean('replayed').notNull(),
  requestId: text('request_id'),
  createdAt: at('created_at').notNull(),
  /** The calls this row stands for: 1, or for a denial every one of its principal, code and minute that one flush wrote (gate/log.ts). */
  calls: integer('calls').notNull().default(1),
}, (t) => [primaryKey({ columns: [t.tenantId, t.createdAt, t.id] })]);

export const decisionReplays = pgTable('decision_replays', {
  tenantId: text('tenant_id').notNull(),
  idempotencyKey: text('idempotency_key').notNull(),
  requestHash: text('request_hash').notNull(),
  /** The answer as spelled before migration 0009; `answer` since (the shape and the outcome, gate/statement.ts). */
  decision: jsonb('decision').$type<Record<string, unknown>>(),
  answer: jsonb('answer').$type<Record<string, unknown>>(),
  createdAt: at('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.idempotencyKey] })]);

/** The writes of allowed decisions' day counts that committed (0021): a write made again after a lost reply finds its id and adds nothing. */
export const decisionCountFlushes = pgTable('decision_count_flushes', {
  id: text('id').primaryKey(),
  createdAt: at('created_at').notNull(),
});
