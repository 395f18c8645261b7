export { EntitlementsService, hasFeature, modelAllowed, moduleEnabled, type Entitlements, type ModuleView, type OverridePatch } from './service.js';
export { entitlementsErrors } from './errors.js';
export { CONCURRENT_RUNS } from './tables.js';
