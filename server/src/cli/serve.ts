import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:net';
import type { Config } from '../config.js';
import { buildApp } from '../app.js';
import { describeStorage } from '../db/client.js';
import { createDeps, startSweeper, startWebhookDispatcher } from '../deps.js';
import { StartError } from '../lib/errors.js';
import { progress } from './progress.js';
import { answerClusterMetrics, clusterExposition, serveClusterMetrics } from './cluster-metrics.js';

/** What a worker tells the primary once it listens. */
interface Listening { tollgate: 'listening'; port: number }

/**
 * Starts the server and stops it cleanly on SIGINT/SIGTERM; resolves with the exit code.
 * With `workers` above 1 this process becomes the primary of a node:cluster: each worker
 * is a whole Tollgate over the same PostgreSQL and Redis, all accepting on one port.
 */
export async function serve(config: Config): Promise<number> {
  if (cluster.isPrimary) await assertPortFree(config);
  if (config.workers > 1 && cluster.isPrimary) return servePrimary(config);
  // First, so that a scrape while this worker boots does not wait for it in vain.
  if (cluster.isWorker) answerClusterMetrics();
  const server = await startServer(config).catch((error: unknown) => {
    // A worker lives as long as its channel to the primary is open: one that cannot start
    // (a refused database, a port) must let go of it to end, and the primary then stops.
    cluster.worker?.disconnect();
    throw error;
  });
  if (cluster.isWorker) process.send?.({ tollgate: 'listening', port: server.port } satisfies Listening);
  else printBanner(config, server.port, 1);
  await server.stopped;
  // A worker lives as long as its channel to the primary is open.
  cluster.worker?.disconnect();
  return 0;
}

/** One server process: listening, with its sweeper; `stopped` settles after a stop signal, once it has flushed and closed. */
async function startServer(config: Config): Promise<{ port: number; stopped: Promise<void> }> {
  const deps = await createDeps(config, { onProgress: progress });
  if (cluster.isWorker) deps.metrics.exposition = clusterExposition(deps.metrics.registry);
  const app = await buildApp(deps);
  progress(`starting the HTTP server on ${config.host}:${config.port}`);
  try {
    // Bursts of new connections (every SaaS worker calling at once) should queue, not be reset: Node's default backlog is 511.
    await app.listen({ host: config.host, port: config.port, backlog: 4096 });
  } catch (error) {
    await app.close();
    await deps.close();
    throw listenFailure(error, config) ?? error;
  }
  const sweeper = startSweeper(deps);
  const dispatcher = startWebhookDispatcher(deps);
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  let stopping: Promise<void> | undefined;
  // A terminal's Ctrl-C (or a supervisor signalling the whole group) reaches every process,
  // and a cluster's primary passes SIGTERM on as well: a worker stops once, whichever comes
  // first, and keeps its handlers so the second signal cannot kill it mid-flush. A lone
  // server takes one signal; a second one (Ctrl-C twice) ends it at once.
  const stop = () => {
    stopping ??= (async () => {
      await sweeper.stop(false);
      await dispatcher.stop(false);
      await app.close();
      await deps.close();
    })();
    return stopping;
  };
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => void stop().then(resolve);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      if (cluster.isWorker) process.on(signal, onSignal);
      else process.once(signal, onSignal);
    }
  });
  return { port, stopped };
}

/**
 * The cluster's primary. Starts the workers one after the other, so the first alone
 * migrates and creates the bootstrap operator; passes SIGINT/SIGTERM on and resolves once
 * every worker has flushed and stopped (exit code 1 if one did not stop cleanly). A worker
 * that dies otherwise takes the others down and the exit code is 1: restarting is the
 * supervisor's job (systemd, a container runtime), which then sees one failed service
 * rather than a silently smaller one.
 */
async function servePrimary(config: Config): Promise<number> {
  const workers: Worker[] = [];
  let code: number | undefined;
  let stoppedBadly = false;
  const stopAll = (exitCode: number) => {
    if (code !== undefined) return;
    code = exitCode;
    for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGTERM');
  };
  // Kept for every signal: the primary going away would end its workers mid-flush.
  process.on('SIGINT', () => stopAll(0));
  process.on('SIGTERM', () => stopAll(0));
  serveClusterMetrics();
  const exits: Promise<unknown>[] = [];
  let port = config.port;
  for (let i = 0; i < config.workers && code === undefined; i++) {
    const worker = cluster.fork();
    workers.push(worker);
    exits.push(new Promise((resolve) => worker.once('exit', resolve)));
    worker.on('error', (error) => process.stderr.write(`tollgate: worker ${worker.process.pid}: ${String(error)}\n`));
    worker.once('exit', (exitCode, signal) => {
      if (code !== undefined) {
        if (exitCode !== 0 || signal) stoppedBadly = true;
        return;
      }
      process.stderr.write(`tollgate: worker ${worker.process.pid} exited (${signal ?? exitCode}); stopping the others\n`);
      stopAll(1);
    });
    port = await new Promise<number>((resolve) => {
      worker.on('message', (message: Listening) => { if (message?.tollgate === 'listening') resolve(message.port); });
      worker.once('exit', () => resolve(port));
    });
  }
  if (code === undefined) printBanner(config, port, config.workers);
  await Promise.all(exits);
  return stoppedBadly ? 1 : code ?? 0;
}

/**
 * Said before the storage opens (a first start creates and migrates a database for a
 * while): a taken port is known at once. Listening may still fail later (another process
 * taking the port meanwhile), with the same answer.
 */
async function assertPortFree(config: Config): Promise<void> {
  if (config.port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host: config.host, port: config.port, exclusive: true }, () => probe.close(() => resolve()));
  }).catch((error: unknown) => { throw listenFailure(error, config) ?? error; });
}

/** Why the port could not be taken, said in one line with the setting to change; undefined for anything else. */
function listenFailure(error: unknown, config: Config): StartError | undefined {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE': return new StartError(`port ${config.port} is in use; set PORT`);
    case 'EACCES': return new StartError(`port ${config.port} needs privileges this process does not have; set PORT (above 1023)`);
    case 'EADDRNOTAVAIL': return new StartError(`${config.host} is not an address of this machine; set HOST`);
    default: return undefined;
  }
}

function printBanner(config: Config, port: number, workers: number): void {
  const base = `http://${config.host}:${port}`;
  const storage = describeStorage({ url: config.databaseUrl, dataDir: config.dataDir });
  process.stdout.write([
    '',
    `  Tollgate is listening on ${base}  (storage: ${storage}${workers > 1 ? `; ${workers} worker processes` : ''})`,
    `  API docs:  ${base}/docs   ·   OpenAPI: ${base}/openapi.json`,
    `  Console:   ${base}/console  (sign in as an operator, or as a tenant's owner or admin)`,
    '  Sign up:   curl -s -X POST ' + base + '/v1/signup -H "content-type: application/json" \\',
    '               -d \'{"email":"you@example.com","password":"a-long-password"}\'',
    '',
  ].join('\n') + '\n');
}
