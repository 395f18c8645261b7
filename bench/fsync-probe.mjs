// node bench/fsync-probe.mjs <dir> <seconds>: what a durable commit waits on. Writes 8 KiB
// to a file of its own in <dir> and fdatasyncs it, every INTERVAL_MS, for <seconds>; prints
// the latencies' percentiles as one JSON line and removes the file. Its own process, so its
// synchronous syncs never hold up the bench's load generator.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from './procs.mjs';

const INTERVAL_MS = 10;
const [dir, seconds] = process.argv.slice(2);
const path = join(dir, `tollgate-bench-fsync-${process.pid}`);
const fd = openSync(path, 'w');
const page = Buffer.alloc(8192, 1);
const latencies = [];
const end = performance.now() + Number(seconds) * 1000;
try {
  while (performance.now() < end) {
    const start = performance.now();
    writeSync(fd, page, 0, page.length, 0);
    fdatasyncSync(fd);
    latencies.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
} finally {
  closeSync(fd);
  rmSync(path, { force: true });
}
latencies.sort((a, b) => a - b);
const at = (q) => percentile(latencies, q);
process.stdout.write(`${JSON.stringify({ syncs: latencies.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: latencies.at(-1) })}\n`);
