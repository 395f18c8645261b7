/**
 * One process at a time: `<file>.lock` beside a file, created exclusively (O_EXCL), held
 * while `work` runs and removed after it. The holder touches the lock every few seconds;
 * a lock untouched for 30 s belongs to a process that died holding it, and is broken.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, linkSync, openSync, renameSync, rmSync, statSync, utimesSync, type Stats } from 'node:fs';
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
    const seen = staleLock(lock);
    if (seen) breakStale(lock, seen);
    else await sleep(POLL_MS * (0.5 + Math.random()));
  }
}

/** The lock's file when it is stale; undefined when it is alive, or gone meanwhile (the next attempt may take it). */
function staleLock(lock: string): Stats | undefined {
  try {
    const found = statSync(lock);
    return Date.now() - found.mtimeMs > STALE_AFTER_MS ? found : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the stale lock `seen`, and nothing else. Several processes may see it stale at
 * once: removing it by name, one of them could remove the lock another had just broken it
 * for and made, and both would hold it. So it is moved aside first (a rename is atomic:
 * of those moving that file, one succeeds) and removed only if it is the file seen stale;
 * a live lock moved aside by a late breaker is linked back (never over another).
 */
function breakStale(lock: string, seen: Stats): void {
  const aside = `${lock}.${randomUUID()}.broken`;
  try {
    renameSync(lock, aside);
  } catch {
    return; // moved or removed by another process first
  }
  const moved = statSync(aside);
  if (moved.ino !== seen.ino || moved.mtimeMs !== seen.mtimeMs) {
    try {
      linkSync(aside, lock);
    } catch {
      // Another lock was made meanwhile: its maker holds it.
    }
  }
  rmSync(aside, { force: true });
}

function touch(lock: string): void {
  const now = new Date();
  try {
    utimesSync(lock, now, now);
  } catch {
    // Gone: broken by another process after all; the work goes on.
  }
}
