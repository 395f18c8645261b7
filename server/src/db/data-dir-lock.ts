import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tryLock } from 'fs-native-extensions';
import { StartError } from '../lib/errors.js';

/** The file whose lock makes a data directory single-owner; it also names the owner. */
export const LOCK_FILE = 'tollgate.lock';

export interface DataDirLock {
  release(): void;
}

/**
 * An embedded PGlite database is one process's: a second process opening the same files
 * would write beside the first and lose (or corrupt) what either wrote. Whoever opens the
 * directory takes an exclusive OS lock on its lock file (an open-file-description lock,
 * held as long as the descriptor is open): the kernel releases it when the process ends,
 * however it ends, so a lock of a dead process is never in the way. A second opener is
 * refused with the directory and the process that holds it.
 */
export function lockDataDir(dir: string): DataDirLock {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const fd = openSync(path, 'a+', 0o600);
  let locked = false;
  try {
    locked = tryLock(fd);
  } finally {
    if (!locked) closeSync(fd);
  }
  if (!locked) {
    throw new StartError(`the data directory ${dir} is in use by ${describeHolder(path)}. ` +
      'Embedded PGlite serves one process: stop that one first (to make an operator, stop the server, run the command, start it again; ' +
      'or start it with TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL and _PASSWORD), or point TOLLGATE_DATA_DIR elsewhere, or use DATABASE_URL.');
  }
  // The descriptor holds the lock; what is written is only for the message above.
  ftruncateSync(fd, 0);
  writeSync(fd, `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`, 0);
  let open = true;
  return {
    release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

function describeHolder(path: string): string {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number; host?: string; since?: string };
    return `another Tollgate process (pid ${holder.pid} on ${holder.host}, since ${holder.since})`;
  } catch {
    // Its owner is between taking the lock and writing its name.
    return 'another Tollgate process';
  }
}
