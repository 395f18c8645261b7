// Everything the bench starts, it stops: child servers and the throwaway database.
import { execFileSync, fork, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { createWriteStream, existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT_DIR = dirname(BENCH_DIR);
export const SERVER_DIR = join(ROOT_DIR, 'server');

/** The q-quantile (0 < q < 1) of ascending `sorted` latencies, by rank; undefined when there are none. */
export const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const pgUrl = (database) => `postgres://${PG.user}@${PG.host}:${PG.port}/${database}`;

/**
 * psql as the superuser: the bench's own setup and its checks, which must see past
 * row-level security. The script goes in on stdin, not -c, so each statement is its own
 * transaction (VACUUM and CREATE DATABASE refuse to run inside one).
 */
export function psql(database, sqlText) {
  return execFileSync('psql', [...psqlArgs(database), '-f', '-'], { input: sqlText, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }).trim();
}

/**
 * One connection held open for what is read while a run sends (the write-ahead log's
 * position, the statement's timings), as the superuser: `read(text)` answers the first
 * row. A psql per read started a process on the cores under test, at the start of a paced
 * run's measured part: in scratch runs at 300/s, one raised that second's p99 from 11–15
 * ms to 17–20, two to 50–89 (issue 24).
 */
export function heldConnection(database) {
  const sql = postgres(pgUrl(database), { max: 1, onnotice: () => undefined });
  return { read: async (text) => (await sql.unsafe(text))[0], close: () => sql.end() };
}

/**
 * Where the database's write-ahead log stands, in bytes, as one number: read around a run
 * (run.mjs over its held connection, inprocess.ts through the database it opened, PGlite's included).
 */
export const WAL_POSITION = "SELECT (pg_current_wal_lsn() - '0/0')::float8 AS bytes";

const psqlArgs = (database) => ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', database];

export function createDatabase(name) {
  psql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  psql('postgres', `CREATE DATABASE ${name}`);
}

export function dropDatabase(name) {
  psql('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

const children = new Set();

/** A Node script that reports its port over IPC (hello.mjs, naive.mjs). */
export function forkServer(script, args, logPath, env = {}) {
  const child = fork(script, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } });
  return track(child, logPath, new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before listening; see ${logPath}`)));
  }));
}

/** `tollgate serve` from the server workspace; the port is read from its startup banner. */
export function startTollgate(env, logPath, nodeFlags = []) {
  // The young generation's size as `npm start` and bin/tollgate.mjs give it (the latter says why).
  const child = spawn(process.execPath, ['--max-semi-space-size=64', ...nodeFlags, '--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: SERVER_DIR, env: { ...process.env, ...env, PORT: '0', HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(child, logPath, new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`tollgate serve exited with ${code} before listening; see ${logPath}`)));
  }));
}

let redisPid = null;

/**
 * A Redis of the bench's own on a free port (nothing kept on disk), for Tollgate's shared
 * rate-limit buckets when it runs several processes; null where redis-server is missing.
 */
export async function startRedis(logPath) {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    const attempt = (left) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(port); });
      socket.once('error', () => (left > 0 ? setTimeout(() => attempt(left - 1), 50) : reject(new Error('redis-server did not listen'))));
    };
    attempt(100);
  });
  try {
    const redis = await track(child, logPath, ready);
    redisPid = redis.pid;
    return { ...redis, url: `redis://127.0.0.1:${port}` };
  } catch {
    return null;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function track(child, logPath, ready) {
  const log = createWriteStream(logPath);
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return ready.then((port) => ({ port, pid: child.pid, url: `http://127.0.0.1:${port}`, stop: () => stop(child) }));
}

/** SIGTERM lets Tollgate flush its decision log; SIGKILL after 10 s so the bench never hangs. */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    child.kill('SIGTERM');
  });
}

export async function stopAll() {
  await Promise.all([...children].map(stop));
}

const TICKS_PER_SECOND = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100; } catch { return 100; }
})();

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuSecondsOf(stat) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * CPU seconds used so far by one server (its process and every process under it: a
 * cluster's workers), by every PostgreSQL process of the machine (backends, WAL writer,
 * checkpointer), by the bench's Redis, and by this process (the load generator runs in
 * it). Linux only: null where there is no /proc.
 */
export function cpuNow(serverPid) {
  if (!existsSync('/proc/self/stat')) return null;
  let postgres = 0;
  let redis = 0;
  const processes = new Map(); // pid → { ppid, cpu }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${entry}/stat`, 'utf8'); } catch { continue; } // exited meanwhile
    const pid = Number(entry);
    if (stat.includes(' (postgres) ')) postgres += cpuSecondsOf(stat);
    else if (pid === redisPid) redis = cpuSecondsOf(stat);
    else processes.set(pid, { ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), cpu: cpuSecondsOf(stat) });
  }
  let server = 0;
  const pending = [serverPid];
  while (pending.length > 0) {
    const pid = pending.pop();
    server += processes.get(pid)?.cpu ?? 0;
    for (const [child, p] of processes) if (p.ppid === pid) pending.push(child);
  }
  return { server, postgres, redis, load: cpuSecondsOf(readFileSync('/proc/self/stat', 'utf8')) };
}

/** CPU microseconds per request between two cpuNow() readings, or null. */
export function cpuPerRequest(before, after, requests) {
  if (!before || !after || requests === 0) return null;
  const per = (k) => ((after[k] - before[k]) * 1e6) / requests;
  return { server: per('server'), postgres: per('postgres'), redis: per('redis'), load: per('load') };
}
