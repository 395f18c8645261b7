import type { Config } from '../config.js';
import { buildApp } from '../app.js';
import { createDeps } from '../deps.js';

/** Starts the server and stops it cleanly on SIGINT/SIGTERM. */
export async function serve(config: Config): Promise<void> {
  const deps = await createDeps(config);
  const app = await buildApp(deps);
  await app.listen({ host: config.host, port: config.port });
  // Expires unsettled reservations and rolls periods (with their refill) for idle tenants.
  const sweeper = setInterval(() => {
    deps.tollgate.sweep().catch((error: unknown) => deps.logger.error({ err: error }, 'metering sweep failed'));
  }, config.file.metering.sweepIntervalSeconds * 1000);
  sweeper.unref();
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
      clearInterval(sweeper);
      await app.close();
      await deps.close();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
