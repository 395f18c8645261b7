export { EventOutbox, type PublishedEvent } from './events.js';
export { WebhookService, type DeliveryView, type EndpointOptions, type EndpointView, type Manager, type NewEndpoint } from './service.js';
export { WebhookDispatcher, type DispatchOptions, type DispatchParts } from './dispatcher.js';
export { TargetPolicy, type Resolver, type TargetRules } from './targets.js';
export { signedHeaders } from './sender.js';
export { webhookEndpointRoutes } from './routes.js';
export { webhooksErrors } from './errors.js';
export { EVENT_TYPES, type EventType } from './tables.js';
export type { EndpointRow } from './repo.js';
