import { loadConfig, type Config } from './config.js';
import { createDeps, type Deps, type DepsOverrides } from './deps.js';
import type { Tollgate } from './tollgate.js';

/** Tollgate embedded in a Node app: the same calls the HTTP routes make, without HTTP. */
export interface EmbeddedTollgate extends Tollgate {
  readonly deps: Deps;
  close(): Promise<void>;
}

/**
 * `const tollgate = await createTollgate(loadConfig())` wires everything the server
 * would (database, migrations, services) and returns the metering core.
 */
export async function createTollgate(config: Config = loadConfig(), overrides: DepsOverrides = {}): Promise<EmbeddedTollgate> {
  const deps = await createDeps(config, overrides);
  return Object.assign(deps.tollgate, { deps, close: () => deps.close() });
}
