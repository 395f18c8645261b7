/** The shapes the console shows, taken from the SDK's generated types of the server's OpenAPI document. */
import type { paths } from '@tollgate/sdk';

type Json<P extends keyof paths, M extends keyof paths[P], S extends number = 200> =
  paths[P][M] extends { responses: { [K in S]: { content: { 'application/json': infer T } } } } ? T : never;

export type Me = Json<'/v1/me', 'get'>;
export type Tenant = Json<'/v1/admin/tenants/{tenantId}', 'get'>;
export type Subscription = NonNullable<Tenant['subscription']>;
export type TenantUser = Json<'/v1/admin/tenants/{tenantId}/users', 'get'>['users'][number];
export type Payment = Json<'/v1/admin/tenants/{tenantId}/payments', 'get'>['payments'][number];
export type AuditEntry = Json<'/v1/admin/tenants/{tenantId}/audit', 'get'>['entries'][number];
export type DecisionEntry = Json<'/v1/admin/tenants/{tenantId}/decisions', 'get'>['decisions'][number];
export type Member = Json<'/v1/tenants/{tenantId}/members', 'get'>['members'][number];
export type Invitation = Json<'/v1/tenants/{tenantId}/invitations', 'get'>['invitations'][number];
export type ApiKey = Json<'/v1/tenants/{tenantId}/api-keys', 'get'>['apiKeys'][number];
export type ModuleView = Json<'/v1/tenants/{tenantId}/modules', 'get'>['modules'][number];
export type UsageView = Json<'/v1/tenants/{tenantId}/usage', 'get'>;
export type UsageEvent = Json<'/v1/tenants/{tenantId}/usage/events', 'get'>['events'][number];
export type CreditBalance = Json<'/v1/tenants/{tenantId}/credits', 'get'>;
export type LedgerEntry = Json<'/v1/tenants/{tenantId}/credits/ledger', 'get'>['entries'][number];
export type Role = Member['role'];
export type Scope = ApiKey['scopes'][number];
export type ProviderRoute = Json<'/v1/tenants/{tenantId}/routes', 'get'>['routes'][number];
export type Webhook = Json<'/v1/tenants/{tenantId}/webhooks', 'get'>['webhooks'][number];
export type WebhookEvent = Webhook['events'][number];
export type WebhookDelivery = Json<'/v1/tenants/{tenantId}/webhooks/{id}/deliveries', 'get'>['deliveries'][number];
