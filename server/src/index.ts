/** Tollgate as a library: load a config, wire the services, build the HTTP app. */
export { loadConfig, parseConfigFile, type Config } from './config.js';
export { createDeps, type Deps } from './deps.js';
export { buildApp } from './app.js';
