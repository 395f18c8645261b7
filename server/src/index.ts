/** Tollgate as a library: load a config, wire the services, build the HTTP app. */
export { loadConfig, parseConfigFile, type Config } from './config.js';
export { createDeps, type Deps } from './deps.js';
export { buildApp } from './app.js';
export { createTollgate, type EmbeddedTollgate } from './library.js';
export { Metering, type Caller, type ReserveRequest, type UsageReport } from './modules/metering/index.js';
/** What a refused or failed call throws: `code` is the error catalog's (docs/errors.md). */
export { AppError } from './lib/errors.js';
export type { AuthorizeContext, AuthorizeRequest, Decision, DecisionCode } from './modules/gate/index.js';
