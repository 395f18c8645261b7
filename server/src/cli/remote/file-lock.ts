/**
 * One process at a time: `<file>.lock` beside a file, created exclusively (O_EXCL) with
 * the holder's pid in it, held while `work` runs and removed after it, or when the holder
 * is interrupted (SIGINT, SIGTERM). The holder touches the lock every few seconds; a lock
 * untouched for 30 s belongs to a process that died holding it, and is broken.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, utimesSync, writeSync, type Stats } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** Longer than any heartbeat gap of a living holder, so only a dead one's lock is broken. */
const STALE_AFTER_MS = 30_000;
const HEARTBEAT_MS = 5_000;
/** A break takes microseconds: a `.break` lock this old belongs to a breaker that died. */
const BREAK_STALE_AFTER_MS = 5_000;
const POLL_MS = 50;
/** A wait longer than a refresh takes: the waiting process says why it is silent. */
const WAIT_NOTICE_MS = 2_000;

/** Told once, when the lock has been waited for a while: the holder's pid, when the lock names one. */
export type OnLongWait = (holderPid: number | undefined) => void;

export async function withFileLock<T>(file: string, work: () => Promise<T>, onLongWait: OnLongWait = () => undefined): Promise<T> {
  const lock = `${file}.lock`;
  let held = false;
  const release = () => rmSync(lock, { force: true });
  // Interrupted (Ctrl-C, kill), the process ends here, without its `finally`: a lock left behind,
  // touched until then, would hold the next commands for 30 s. The handlers are in place before
  // the lock can exist: a signal in between would end the process by default, leaving the lock.
  // A signal runs its handler from the event loop, so it never falls between the lock's making
  // and `held` (only microtasks run there); interrupted while waiting, it removes nothing.
  const interrupted = (signal: NodeJS.Signals) => {
    if (held) release();
    process.exit(128 + constants.signals[signal]);
  };
  const signals = ['SIGINT', 'SIGTERM'] as const;
  // `on`, not `once`: a second Ctrl-C while the first is handled is caught, not the default.
  for (const signal of signals) process.on(signal, interrupted);
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    await acquire(lock, onLongWait);
    held = true;
    // A slow holder (a refresh waiting out a Retry-After) must not look dead.
    heartbeat = setInterval(() => touch(lock), HEARTBEAT_MS);
    heartbeat.unref();
    return await work();
  } finally {
    clearInterval(heartbeat);
    for (const signal of signals) process.off(signal, interrupted);
    if (held) release();
  }
}

async function acquire(lock: string, onLongWait: OnLongWait): Promise<void> {
  const since = Date.now();
  let told = false;
  for (;;) {
    if (create(lock)) return;
    const seen = staleLock(lock);
    if (seen) {
      breakStale(lock, seen);
      continue;
    }
    if (!told && Date.now() - since > WAIT_NOTICE_MS) {
      told = true;
      onLongWait(holderOf(lock));
    }
    await sleep(POLL_MS * (0.5 + Math.random()));
  }
}

/** Makes the lock, answering false when another process holds it. */
function create(lock: string): boolean {
  let fd: number;
  try {
    fd = openSync(lock, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The pid written in the lock; undefined when there is none (yet) or the lock is gone. */
function holderOf(lock: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
    return Number.isSafeInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The lock's file when it is stale; undefined when it is alive, or gone meanwhile (the next attempt may take it). */
function staleLock(lock: string, after = STALE_AFTER_MS): Stats | undefined {
  try {
    const found = statSync(lock);
    return Date.now() - found.mtimeMs > after ? found : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the stale lock `seen`, and nothing else. Several processes may see it stale at
 * once, and one removing it by name could remove the lock another had just broken it for
 * and made: both would hold it. So breaking takes a lock of its own (`<lock>.break`,
 * created exclusively), and its holder removes the lock only if it is still the file seen
 * stale (same inode and time): a lock made since is a new file, and only a breaker removes
 * a stale one. A breaker that died holding `.break` is let go after BREAK_STALE_AFTER_MS.
 */
function breakStale(lock: string, seen: Stats): void {
  const breaking = `${lock}.break`;
  if (!create(breaking)) {
    if (staleLock(breaking, BREAK_STALE_AFTER_MS)) rmSync(breaking, { force: true });
    return;
  }
  try {
    const now = statSync(lock, { throwIfNoEntry: false });
    if (now && now.ino === seen.ino && now.mtimeMs === seen.mtimeMs) rmSync(lock, { force: true });
  } finally {
    rmSync(breaking, { force: true });
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
