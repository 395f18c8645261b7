/**
 * One process at a time: `<file>.lock` beside a file, created exclusively (O_EXCL), held
 * while `work` runs and removed after it. The holder touches the lock every few seconds;
 * a lock untouched for 30 s belongs to a process that died holding it, and is broken.
 */
import { closeSync, openSync, rmSync, statSync, utimesSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Longer than any heartbeat gap of a living holder, so only a dead one's lock is broken. */
const STALE_AFTER_MS = 30_000;
const HEARTBEAT_MS = 5_000;
const POLL_MS = 50;

export async function withFileLock<T>(file: string, work: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  await acquire(lock);
  // A slow holder (a refresh waiting out a Retry-After) must not look dead.
  const heartbeat = setInterval(() => touch(lock), HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await work();
  } finally {
    clearInterval(heartbeat);
    rmSync(lock, { force: true });
  }
}

async function acquire(lock: string): Promise<void> {
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (stale(lock)) rmSync(lock, { force: true });
    else await sleep(POLL_MS * (0.5 + Math.random()));
  }
}

function stale(lock: string): boolean {
  try {
    return Date.now() - statSync(lock).mtimeMs > STALE_AFTER_MS;
  } catch {
    return false; // gone meanwhile: the next attempt may take it
  }
}

function touch(lock: string): void {
  const now = new Date();
  try {
    utimesSync(lock, now, now);
  } catch {
    // Gone: broken by another process after all; the work goes on.
  }
}
