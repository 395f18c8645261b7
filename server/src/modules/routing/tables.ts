import { bigint, boolean, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

export const PROVIDERS = ['bedrock', 'openai', 'anthropic'] as const;
export type Provider = typeof PROVIDERS[number];

/** A tenant's own provider account (migration 0014); the secret is kept sealed only. */
export const tenantRoutes = pgTable('tenant_routes', {
  tenantId: text('tenant_id').notNull(),
  name: text('name').notNull(),
  provider: text('provider').$type<Provider>().notNull(),
  region: text('region'),
  roleArn: text('role_arn'),
  baseUrl: text('base_url'),
  models: text('models').array().notNull(),
  enabled: boolean('enabled').notNull(),
  /** The external ID (Bedrock) or the API key, sealed (lib/secrets.ts Sealer), bound to this row. */
  secretSealed: text('secret_sealed').notNull(),
  /** What is shown of the secret (validate.ts lastFour): null for a secret shorter than 16 characters (migration 0026). */
  secretLastFour: text('secret_last_four'),
  /** Moves with every change (shown in its audit entries); a route created again starts at 1 again. */
  version: bigint('version', { mode: 'number' }).notNull(),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.name] })]);
