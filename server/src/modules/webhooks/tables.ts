import { bigint, integer, jsonb, pgTable, primaryKey, smallint, text, boolean } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';

/** The events a webhook can subscribe to (docs/webhooks.md). */
export const EVENT_TYPES = [
  'limit.threshold', 'credits.low', 'subscription.updated', 'payment.succeeded', 'payment.failed', 'tenant.suspended', 'api_key.revoked',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export type EndpointStatus = 'enabled' | 'disabled';
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

/** The outbox (db/functions/events.sql tollgate_publish writes it). */
export const webhookEvents = pgTable('webhook_events', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  type: text('type').$type<EventType>().notNull(),
  data: jsonb('data').$type<Record<string, unknown>>().notNull(),
  createdAt: at('created_at').notNull(),
  dispatchedAt: at('dispatched_at'),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

export const webhookEndpoints = pgTable('webhook_endpoints', {
  id: text('id').primaryKey(),
  /** The tenant whose events it receives; null: an operator's endpoint (every tenant's). */
  ownerTenantId: text('owner_tenant_id'),
  url: text('url').notNull(),
  events: text('events').array().$type<EventType[]>().notNull(),
  description: text('description'),
  secretSealed: text('secret_sealed').notNull(),
  /** The secret a rotation replaced (sealed as it was), signing beside the new one until previousSecretExpiresAt. */
  previousSecretSealed: text('previous_secret_sealed'),
  previousSecretExpiresAt: at('previous_secret_expires_at'),
  status: text('status').$type<EndpointStatus>().notNull(),
  createdBy: text('created_by'),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
  failingSince: at('failing_since'),
  consecutiveFailures: integer('consecutive_failures').notNull(),
  disabledAt: at('disabled_at'),
  disabledReason: text('disabled_reason'),
});

export const webhookDeliveries = pgTable('webhook_deliveries', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  endpointId: text('endpoint_id').notNull(),
  eventId: text('event_id').notNull(),
  eventType: text('event_type').$type<EventType>().notNull(),
  status: text('status').$type<DeliveryStatus>().notNull(),
  attempts: integer('attempts').notNull(),
  nextAttemptAt: at('next_attempt_at'),
  lastAttemptAt: at('last_attempt_at'),
  responseStatus: integer('response_status'),
  lastError: text('last_error'),
  leaseUntil: at('lease_until'),
  leaseToken: text('lease_token'),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

export const limitCrossings = pgTable('limit_crossings', {
  tenantId: text('tenant_id').notNull(),
  meter: text('meter').notNull(),
  periodStart: at('period_start').notNull(),
  threshold: smallint('threshold').notNull(),
  createdAt: at('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.meter, t.periodStart, t.threshold] })]);

export const creditAlerts = pgTable('credit_alerts', {
  tenantId: text('tenant_id').primaryKey(),
  low: boolean('low').notNull(),
  /** The lowest balance since the alert (NULL while not low): re-armed only above it (db/functions/events.sql). */
  lowBalance: bigint('low_balance', { mode: 'number' }),
  changedAt: at('changed_at').notNull(),
});
