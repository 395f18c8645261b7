import { jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export const auditLog = pgTable('audit_log', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  actorType: text('actor_type').notNull(),
  actorId: text('actor_id'),
  action: text('action').notNull(),
  targetType: text('target_type'),
  targetId: text('target_id'),
  data: jsonb('data').$type<Record<string, unknown>>().notNull(),
  requestId: text('request_id'),
  createdAt: at('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);
