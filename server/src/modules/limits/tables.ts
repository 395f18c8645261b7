import { bigint, boolean, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export const usageCounters = pgTable('usage_counters', {
  tenantId: text('tenant_id').notNull(),
  meter: text('meter').notNull(),
  periodStart: at('period_start').notNull(),
  periodEnd: at('period_end').notNull(),
  used: bigint('used', { mode: 'number' }).notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.meter, t.periodStart] })]);

export const usageEvents = pgTable('usage_events', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  meter: text('meter').notNull(),
  quantity: bigint('quantity', { mode: 'number' }).notNull(),
  periodStart: at('period_start').notNull(),
  bypass: boolean('bypass').notNull(),
  role: text('role'),
  actorType: text('actor_type').notNull(),
  actorId: text('actor_id'),
  usedAfter: bigint('used_after', { mode: 'number' }).notNull(),
  limitValue: bigint('limit_value', { mode: 'number' }),
  createdAt: at('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.createdAt, t.id] })]);
