export { RoutingService, type RoutingParts, type RouteChangeListener } from './service.js';
export { ProviderCredentials, type AwsCredentials, type CredentialParts } from './credentials.js';
export { selectRoute, type RouteSummary, type RoutingPlan } from './select.js';
export { RouteSchema, RouteViewSchema, type ProviderCredentialsView, type Route, type RouteView, type RouteInput } from './schemas.js';
export { routingRoutes } from './routes.js';
export { routingErrors } from './errors.js';
