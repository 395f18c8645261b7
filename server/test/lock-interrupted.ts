/**
 * A process of file-lock.test.ts: `node --import tsx test/lock-interrupted.ts FILE` takes
 * FILE's lock of src/cli/remote/file-lock.ts and sends itself SIGTERM inside the call that
 * makes the lock file, before withFileLock goes on: the first instant a holder can be
 * interrupted, which no timing from outside could hit on purpose. It would then hold the
 * lock for a minute.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

const file = process.argv[2]!;
const openSync = fs.openSync;
fs.openSync = ((...args: Parameters<typeof fs.openSync>) => {
  const fd = openSync(...args);
  if (args[0] === `${file}.lock`) process.kill(process.pid, 'SIGTERM');
  return fd;
}) as typeof fs.openSync;
// file-lock.ts imports openSync by name: its binding follows the module's property only once synced.
syncBuiltinESMExports();
const { withFileLock } = await import('../src/cli/remote/file-lock.js');
await withFileLock(file, () => sleep(60_000));
