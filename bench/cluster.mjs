// The bench's own HTTP servers (hello.mjs, naive.mjs) run in as many processes as
// Tollgate's (BENCH_WORKERS), so every server of a run has the same cores to use.
import cluster from 'node:cluster';

/**
 * Runs `listen` (starts the server, resolves with its port) in `workers` processes sharing
 * one port (node:cluster), and tells the bench the port over IPC once every worker listens.
 * SIGTERM stops the workers, then this process.
 */
export async function serveWorkers(listen) {
  const workers = Number(process.env.BENCH_WORKERS ?? 1);
  if (workers <= 1 || cluster.isWorker) {
    const port = await listen();
    process.send?.({ port });
    return;
  }
  let port;
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork();
    port = await new Promise((resolve, reject) => {
      worker.once('message', (m) => resolve(m.port));
      worker.once('exit', (code) => reject(new Error(`a worker exited with ${code} before listening`)));
    });
  }
  process.once('SIGTERM', () => {
    let running = workers;
    cluster.on('exit', () => { if (--running === 0) process.exit(0); });
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
  });
  process.send?.({ port });
}
