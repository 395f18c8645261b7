import { boolean, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

/** Limits are keyed by meter name, plus CONCURRENT_RUNS for the concurrent-run slots. */
export const tenantOverrides = pgTable('tenant_overrides', {
  tenantId: text('tenant_id').primaryKey(),
  limits: jsonb('limits').$type<Record<string, number>>().notNull(),
  enterprise: boolean('enterprise'),
  updatedAt: at('updated_at').notNull(),
});

export const tenantModules = pgTable('tenant_modules', {
  tenantId: text('tenant_id').notNull(),
  module: text('module').notNull(),
  enabled: boolean('enabled').notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.module] })]);

export const CONCURRENT_RUNS = 'concurrentRuns';
