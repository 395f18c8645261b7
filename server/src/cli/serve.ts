import type { Config } from '../config.js';
import { buildApp } from '../app.js';
import { createDeps } from '../deps.js';
import { Periodic } from '../lib/periodic.js';

/** Starts the server and stops it cleanly on SIGINT/SIGTERM. */
export async function serve(config: Config): Promise<void> {
  const deps = await createDeps(config);
  const app = await buildApp(deps);
  // Bursts of new connections (every SaaS worker calling at once) should queue, not be reset: Node's default backlog is 511.
  await app.listen({ host: config.host, port: config.port, backlog: 4096 });
  // Expires unsettled reservations and rolls periods (with their refill) for idle tenants.
  const sweeper = new Periodic(async () => { await deps.tollgate.sweep(); }, (error) => deps.logger.error({ err: error }, 'metering sweep failed'));
  sweeper.start(config.file.metering.sweepIntervalSeconds * 1000);
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const base = `http://${config.host}:${port}`;
  const storage = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`;
  process.stdout.write([
    '',
    `  Tollgate is listening on ${base}  (storage: ${storage})`,
    `  API docs:  ${base}/docs   ·   OpenAPI: ${base}/openapi.json`,
    '  Sign up:   curl -s -X POST ' + base + '/v1/signup -H "content-type: application/json" \\',
    '               -d \'{"email":"you@example.com","password":"a-long-password"}\'',
    '',
  ].join('\n') + '\n');
  await new Promise<void>((resolve) => {
    const stop = async () => {
      await sweeper.stop(false);
      await app.close();
      await deps.close();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
