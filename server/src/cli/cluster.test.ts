import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { TEST_SECRET, createTestDatabase, onPostgres, type TestDatabase } from '../../test/harness.js';
import { removeTempDirs, tempDir } from '../../test/temp-dirs.js';

const REDIS_URL = process.env.REDIS_URL || undefined;
if (!onPostgres || !REDIS_URL) console.log('[tollgate] cluster suite (TOLLGATE_WORKERS=2) needs DATABASE_URL and REDIS_URL: SKIPPED');

const SERVER_DIR = new URL('../..', import.meta.url).pathname;
/** Servers started by a test, killed after it whatever happened. */
const started: ChildProcess[] = [];
const OPERATOR = { email: 'cluster-ops@example.com', password: 'cluster-operator-password' };

/** `tollgate serve` as a real command: the primary and its workers are processes of their own. */
function startServe(db: TestDatabase, dir: string): Promise<{ child: ChildProcess; base: string; banner: string; exited: Promise<number | null> }> {
  const file = parse(readFileSync(join(SERVER_DIR, 'tollgate.config.yaml'), 'utf8'));
  file.auth = { ...file.auth, scryptCost: 10 };
  const configPath = join(dir, 'tollgate.yaml');
  writeFileSync(configPath, stringify(file));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    // A process group of its own, so a test can signal it as a supervisor or a terminal would.
    cwd: SERVER_DIR, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    env: {
      ...process.env, DATABASE_URL: db.url, REDIS_URL, TOLLGATE_WORKERS: '2', PORT: '0', HOST: '127.0.0.1', TOLLGATE_CONFIG: configPath,
      TOLLGATE_SECRET_KEY: TEST_SECRET, TOLLGATE_DATA_DIR: dir, LOG_LEVEL: 'warn',
      TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: OPERATOR.email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR.password,
    },
  });
  started.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  child.stderr!.on('data', (chunk) => { out += chunk; });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ child, base: m[1]!, banner: out, exited });
    });
    void exited.then((code) => reject(new Error(`tollgate serve exited with ${code} before listening:\n${out}`)));
  });
}

/** The pids of a process's Tollgate workers, from /proc (tsx's esbuild is a child too). */
function workersOf(pid: number): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid && readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('src/main.ts');
    } catch {
      return false; // exited meanwhile
    }
  }).map(Number);
}

/** CPU time a process has used so far, in clock ticks (user + system). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** The fields of the answers this suite reads. */
interface Body { accessToken?: string; tenant?: { id: string }; key?: string; allowed?: boolean; code?: string }

async function call(base: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: Body }> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() as Body };
}

/** /metrics over a connection of its own, so that successive scrapes reach the workers in turn. */
async function metricsOnNewConnection(base: string): Promise<string> {
  return (await fetch(`${base}/metrics`, { headers: { connection: 'close' } })).text();
}

describe.skipIf(!onPostgres || !REDIS_URL)('tollgate serve with TOLLGATE_WORKERS=2', () => {
  let db: TestDatabase;
  beforeAll(async () => { db = await createTestDatabase(); });
  afterEach(() => {
    for (const child of started.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone meanwhile */ }
      }
    }
  });
  afterAll(async () => {
    await db?.drop();
    removeTempDirs();
  });

  it('two workers on one port admit exactly the limit between them, report the whole service\'s metrics, and stop together after flushing', async () => {
    const server = await startServe(db, tempDir('cluster'));
    expect(server.banner).toMatch(/2 worker processes/);
    const workers = workersOf(server.child.pid!);
    expect(workers).toHaveLength(2);

    const { base } = server;
    const op = (await call(base, 'POST', '/v1/token', { grantType: 'password', ...OPERATOR })).body.accessToken!;
    const signup = (await call(base, 'POST', '/v1/signup', { email: 'cluster-owner@example.com', password: 'cluster-owner-password' })).body;
    const tenantId = signup.tenant!.id;
    const key = (await call(base, 'POST', `/v1/tenants/${tenantId}/api-keys`, { name: 'cluster', scopes: ['authorize'] }, signup.accessToken)).body.key!;
    expect((await call(base, 'PATCH', `/v1/admin/tenants/${tenantId}`, { plan: 'enterprise', limits: { runs: 100 } }, op)).status).toBe(200);
    expect((await call(base, 'POST', `/v1/admin/tenants/${tenantId}/credits`, { amount: 1_000_000, reason: 'cluster test', idempotencyKey: 'cluster-grant' }, op)).status).toBe(200);

    // 1,000 at once, over as many connections: the primary hands connections to both workers.
    const cpuBefore = workers.map(cpuTicks);
    const answers = await Promise.all(Array.from({ length: 1000 }, () => call(base, 'POST', '/v1/authorize', { operation: 'clustering' }, key)));
    expect(answers.map((a) => a.status).filter((s) => s !== 200)).toEqual([]);
    expect(answers.filter((a) => a.body.allowed === true)).toHaveLength(100);
    expect(new Set(answers.filter((a) => !a.body.allowed).map((a) => a.body.code))).toEqual(new Set(['LIMIT_EXCEEDED']));
    // Both served: each worker's CPU time grew by a share of the burst's that no idle
    // worker's timers come near (connections, not requests, are dealt out in turn).
    const spent = workers.map((pid, i) => cpuTicks(pid) - cpuBefore[i]!);
    for (const ticks of spent) expect(ticks / (spent[0]! + spent[1]!)).toBeGreaterThan(0.1);

    // /metrics counts the whole service, whichever worker a scrape reaches.
    for (let i = 0; i < 4; i++) {
      const metrics = await metricsOnNewConnection(base);
      const line = metrics.split('\n').find((l) => l.startsWith('tollgate_http_requests_total{') && l.includes('route="/v1/authorize"') && l.includes('status="200"'));
      expect(Number(line?.split(' ').at(-1))).toBe(1000);
    }

    const [counter] = await db.asOwner<{ used: string }>(`SELECT used FROM usage_counters WHERE tenant_id = $1 AND meter = 'runs'`, [tenantId]);
    expect(Number(counter!.used)).toBe(100);
    // SIGTERM to the whole group, as systemd or a terminal's Ctrl-C sends it: each worker gets
    // it twice (directly and from the primary) and still stops once, after flushing.
    process.kill(-server.child.pid!, 'SIGTERM');
    expect(await server.exited).toBe(0);
    expect(workersOf(server.child.pid!)).toEqual([]);
    // Both workers flushed their decision logs before exiting (a denial's row counts every
    // one like it; an allowed decision's record is its reservation), and their day counts.
    const [logged] = await db.asOwner<{ n: string }>(`SELECT (SELECT sum(calls) FROM decision_log WHERE tenant_id = $1)
      + (SELECT count(*) FROM credit_reservations WHERE tenant_id = $1 AND principal_type IS NOT NULL) AS n`, [tenantId]);
    expect(Number(logged!.n)).toBe(1000);
    const [counted] = await db.asOwner<{ n: string }>('SELECT sum(n) AS n FROM usage_days WHERE tenant_id = $1', [tenantId]);
    expect(Number(counted!.n)).toBe(1000);
  });

  it('a worker that cannot start ends, and serve exits 1 with its one line (a database a newer release migrated)', async () => {
    const newer = await createTestDatabase();
    try {
      await newer.asOwner("INSERT INTO tollgate_migrations (name) VALUES ('9999_from_a_newer_release.sql')");
      const refused = await startServe(newer, tempDir('cluster-newer')).then(() => 'listening', (error: Error) => error.message);
      expect(refused).toContain('tollgate serve exited with 1 before listening');
      expect(refused).toContain('tollgate: the database was migrated by a newer release of Tollgate (9999_from_a_newer_release.sql is not in this one)');
      expect(refused).not.toMatch(/^\s+at /m);
    } finally {
      await newer.drop();
    }
  });

  it('a worker that dies takes the other down, and serve exits 1 for its supervisor', async () => {
    const server = await startServe(db, tempDir('cluster'));
    const [first, second] = workersOf(server.child.pid!);
    process.kill(first!, 'SIGKILL');
    expect(await server.exited).toBe(1);
    expect(() => process.kill(second!, 0)).toThrow();
  });
});
