/**
 * A process taking a lock of src/cli/remote/file-lock.ts, for file-lock.test.ts:
 * `node --import tsx test/lock-holder.ts HOLD_MS ROUND_MS FILE…`. It prints `ready`, reads
 * a start time (ms since the epoch) from stdin, then from `start + i × ROUND_MS` takes the
 * lock of the i-th FILE, holds it HOLD_MS and prints `{"file", "enter", "leave"}`.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { withFileLock } from '../src/cli/remote/file-lock.js';

const [holdMs, roundMs, ...files] = process.argv.slice(2);
console.log('ready');
const lines = createInterface({ input: process.stdin });
const start = Number(await new Promise<string>((resolve) => lines.once('line', resolve)));
lines.close();
for (const [round, file] of files.entries()) {
  await sleep(start + round * Number(roundMs) - Date.now());
  await withFileLock(file, async () => {
    const enter = Date.now();
    await sleep(Number(holdMs));
    console.log(JSON.stringify({ file, enter, leave: Date.now() }));
  });
}
