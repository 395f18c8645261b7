import { bigint, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export const SCOPES = ['authorize', 'read', 'manage', 'credentials'] as const;
export type Scope = typeof SCOPES[number];

export const apiKeys = pgTable('api_keys', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(),
  lastFour: text('last_four').notNull(),
  keyHash: text('key_hash').notNull(),
  scopes: text('scopes').array().$type<Scope[]>().notNull(),
  expiresAt: at('expires_at'),
  revokedAt: at('revoked_at'),
  rateLimit: integer('rate_limit'),
  rateLimitWindowSeconds: integer('rate_limit_window_seconds'),
  usageCap: bigint('usage_cap', { mode: 'number' }),
  lastUsedAt: at('last_used_at'),
  createdBy: text('created_by').notNull(),
  rotatedFrom: text('rotated_from'),
  /** The first key of its rotations: the usage cap and the key's rate bucket are the lineage's (migration 0027). */
  lineageId: text('lineage_id').notNull(),
  graceUntil: at('grace_until'),
  createdAt: at('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

export const serviceKeys = pgTable('service_keys', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  prefix: text('prefix').notNull(),
  lastFour: text('last_four').notNull(),
  keyHash: text('key_hash').notNull(),
  createdBy: text('created_by').notNull(),
  revokedAt: at('revoked_at'),
  /** Moves when the key is revoked (migration 0009's stamps). */
  generation: bigint('generation', { mode: 'number' }).notNull().default(1),
  lastUsedAt: at('last_used_at'),
  createdAt: at('created_at').notNull(),
});
