export { ApiKeyService, DEFAULT_SCOPES, type ApiKeyView, type NewApiKey } from './service.js';
export { ServiceKeyService, type ServiceKeyView } from './service-keys.js';
export { KeyResolver, actingFor, applyOnBehalfOfHeader, parseOnBehalfOfHeader, resolveOnBehalfOf, type OnBehalfOf } from './resolver.js';
export { LastUsedBuffer } from './usage.js';
export { generateKey, looksLikeKey, parseKey, type KeyKind } from './format.js';
export { apiKeyRoutes } from './routes.js';
export { apiKeysErrors } from './errors.js';
export { SCOPES, type Scope } from './tables.js';
