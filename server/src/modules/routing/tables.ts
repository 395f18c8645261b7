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
  /** The external ID the PUT gave (Bedrock; null: none) or the API key, sealed (lib/secrets.ts Sealer), bound to this row. */
  secretSealed: text('secret_sealed'),
  /** What is shown of the secret (validate.ts lastFour): null for a secret shorter than 16 characters (migration 0026). */
  secretLastFour: text('secret_last_four'),
  /** A Bedrock route stored before migration 0030: STS gets the external ID its PUT gave, alone, until it is replaced. */
  legacyExternalId: boolean('legacy_external_id').notNull(),
  /** A new random value with every change (migration 0032): the decision keeps it, its credentials are only for the route at it. */
  revision: text('revision').notNull(),
  /** Moves with every change (shown in its audit entries); a route created again starts at 1 again. */
  version: bigint('version', { mode: 'number' }).notNull(),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.name] })]);

/** The platform's external ID of a tenant's Bedrock routes (migration 0030): made once, on first need, never changed. */
export const routeExternalIds = pgTable('route_external_ids', {
  tenantId: text('tenant_id').primaryKey(),
  externalId: text('external_id').notNull(),
  createdAt: at('created_at').notNull(),
});
