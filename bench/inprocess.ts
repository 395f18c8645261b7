// The decision without HTTP: createTollgate(config).authorize(key, request) called by
// `callers` concurrent loops for `seconds`. Run by run.mjs as a child process with tsx,
// so the bench itself stays plain JavaScript. Storage comes from the environment:
// DATABASE_URL → PostgreSQL, else PGlite in TOLLGATE_DATA_DIR. Prints one JSON line.
import { performance } from 'node:perf_hooks';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { createTollgate } from '../server/src/library.js';
import { inSystem } from '../server/src/db/scope.js';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
// Plain ESM shared with run.mjs: the same seeding over app.inject as over HTTP.
import { OPERATOR, operatorToken, seedTenants } from './seed.mjs';
import { WAL_POSITION, cpuNow, percentile } from './procs.mjs';

const [tenantsText, callersText, secondsText] = process.argv.slice(2);
const tenantCount = Number(tenantsText ?? 100);
const callers = Number(callersText ?? 64);
const seconds = Number(secondsText ?? 5);

const config = loadConfig({
  env: { ...process.env, TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: OPERATOR.email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR.password },
});
const tollgate = await createTollgate(config);

// Seeding goes through the same routes as over HTTP, injected into an app that never listens.
const app = await buildApp(tollgate.deps);
const call = async (method: string, url: string, body: unknown, token?: string) => {
  const res = await app.inject({ method: method as 'POST', url, payload: body as object, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.statusCode, body: res.json() as unknown };
};
const opToken = await operatorToken(call);
type Tenant = { key: string; tenantId: string };
const tenants: Tenant[] = await seedTenants(call, opToken, { count: tenantCount, runs: 1_000_000_000, tag: 'inproc' });
const request = { operation: 'clustering' };
const openPerTenant = Number(process.env.BENCH_OPEN ?? 0);
// With open reservations, as many tenants again that hold none, measured in the same run
// (phases alternating with the others'): the same database, as big, the same moment of
// the machine, so that the two differ only in the tenants' open work.
const controls: Tenant[] = openPerTenant > 0 ? await seedTenants(call, opToken, { count: tenantCount, runs: 1_000_000_000, tag: 'inproc-none' }) : [];

// BENCH_SLOTS=1: concurrent-run slots on (a cap no run reaches, so every decision takes a
// slot); BENCH_OPEN=n: each tenant already holds n open reservations, each with its slot.
if (process.env.BENCH_SLOTS === '1') {
  for (const { tenantId } of [...tenants, ...controls]) {
    const res = await call('PATCH', `/v1/admin/tenants/${tenantId}`, { limits: { concurrentRuns: 1_000_000_000 } }, opToken);
    if (res.status !== 200) throw new Error(`concurrentRuns override: ${res.status} ${JSON.stringify(res.body)}`);
  }
}
if (openPerTenant > 0) await holdOpenReservations(tenants.map((t) => t.tenantId), openPerTenant);

// On PostgreSQL, a checkpoint before the measured part: the write-ahead log of the seeding
// (a million rows for the open reservations) would otherwise set one off in the middle of
// it (max_wal_size), and its writes would be a cost of the bench's seeding, not of the
// decisions measured. Run as the superuser of DATABASE_URL, before the warm-up: each page
// the calls change writes its full image once after a checkpoint, and the warm-up's calls
// pay that for every tenant's rows, where the measured phases would pay it for the set
// that runs first.
if (process.env.DATABASE_URL) await checkpoint(process.env.DATABASE_URL);
// Warm the credential and tenant caches once per key, as a running service would have them.
for (const { key } of [...tenants, ...controls]) await tollgate.authorize(key, request);

/** What one set of tenants' calls came to over the phases it was measured in. */
interface Measured { allowed: number; denied: number; failed: number; firstError?: string; latencies: number[]; seconds: number; cpu: CpuTotals | null; wal: number }
/** CPU seconds used in the phases; null where there is no /proc (cpuNow). */
type CpuTotals = { server: number; postgres: number };
const measured = (): Measured => ({ allowed: 0, denied: 0, failed: 0, latencies: [], seconds: 0, cpu: { server: 0, postgres: 0 }, wal: 0 });

/** `callers` concurrent loops calling authorize for `set`'s keys in turn for `phaseSeconds`, added to `into`. */
async function phase(set: Tenant[], phaseSeconds: number, into: Measured): Promise<void> {
  let next = 0;
  // This process is the server here: its CPU and PostgreSQL's (none on PGlite, which runs in it).
  const walBefore = await walPosition();
  const cpuBefore = cpuNow(process.pid);
  const deadline = performance.now() + phaseSeconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < deadline) {
      const key = set[next++ % set.length]!.key;
      const t0 = performance.now();
      try {
        const decision = await tollgate.authorize(key, request);
        if (decision.allowed) into.allowed++;
        else into.denied++;
      } catch (error) {
        into.failed++;
        into.firstError ??= String(error);
      }
      into.latencies.push(performance.now() - t0);
    }
  }));
  into.seconds += (performance.now() - started) / 1000;
  const cpuAfter = cpuNow(process.pid);
  into.cpu = into.cpu && cpuBefore && cpuAfter
    ? { server: into.cpu.server + cpuAfter.server - cpuBefore.server, postgres: into.cpu.postgres + cpuAfter.postgres - cpuBefore.postgres }
    : null;
  into.wal += (await walPosition()) - walBefore;
}

const main = measured();
const control = measured();
if (controls.length === 0) await phase(tenants, seconds, main);
// Twelve phases, each set in six of them, the order alternating (open, none, none, open,
// three times): a drift of the machine over the run falls on both sets alike, and a
// moment of noise on one set's phase is a sixth of its time, not half (with four phases
// the ratio moved from 0.80 to 1.20 between two runs on a noisy machine, issue 24).
else {
  const ROUNDS = 3;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [set, into] of [[tenants, main], [controls, control], [controls, control], [tenants, main]] as const) await phase(set, seconds / (2 * ROUNDS), into);
  }
}

await app.close();
await tollgate.close();
/** A set's figures: calls a second, latencies, write-ahead log and CPU per call. */
function summary(m: Measured) {
  const calls = m.allowed + m.denied;
  const latencies = m.latencies.sort((a, b) => a - b);
  const pct = (p: number): number => percentile(latencies, p) ?? 0;
  const perCall = (seconds: number) => (seconds * 1e6) / calls;
  return {
    seconds: m.seconds, perSecond: calls / m.seconds, allowed: m.allowed, denied: m.denied, failed: m.failed, firstError: m.firstError,
    p50: pct(0.5), p99: pct(0.99), walPerRequest: m.wal / calls,
    cpu: m.cpu && { server: perCall(m.cpu.server), postgres: perCall(m.cpu.postgres), redis: null, load: null },
  };
}
process.stdout.write(`${JSON.stringify({
  storage: tollgate.deps.database.kind, tenants: tenantCount, callers, slots: process.env.BENCH_SLOTS === '1', openPerTenant,
  ...summary(main), ...(controls.length > 0 ? { control: summary(control) } : {}),
})}\n`);

async function checkpoint(url: string): Promise<void> {
  const admin = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe('CHECKPOINT');
  } finally {
    await admin.end();
  }
}

/** Where the database's write-ahead log stands, in bytes (run.mjs walPosition says what it holds; PGlite keeps one too). */
async function walPosition(): Promise<number> {
  const [row] = await tollgate.deps.database.statement<{ bytes: number }>(WAL_POSITION, []);
  return row!.bytes;
}

/** n held reservations per tenant (0 credits, a day to run), each holding a run slot: written directly, as the decisions that made them would have. */
async function holdOpenReservations(tenantIdList: string[], n: number): Promise<void> {
  // An array literal (prefixed ids need no quoting): the query builder would spread a JS array into a list.
  const tenantIds = `{${tenantIdList.join(',')}}`;
  await inSystem(tollgate.deps.database.db, async (tx) => {
    await tx.execute(sql`
      INSERT INTO credit_reservations (tenant_id, id, idempotency_key, request_hash, operation, amount, status, charged, refunded, expires_at, created_at)
      SELECT t.id, 'res_open_' || t.n || '_' || g, 'open:' || g, 'bench', 'clustering', 0, 'held', 0, 0, now() + interval '1 day', now()
        FROM unnest(${tenantIds}::text[]) WITH ORDINALITY AS t(id, n), generate_series(1, ${n}::int) AS g`);
    await tx.execute(sql`
      INSERT INTO run_slots (tenant_id, id, expires_at)
      SELECT tenant_id, id, expires_at FROM credit_reservations WHERE tenant_id = ANY(${tenantIds}::text[]) AND idempotency_key LIKE 'open:%'`);
    await tx.execute(sql`
      INSERT INTO run_leases (tenant_id, held, updated_at)
      SELECT tenant_id, count(*), now() FROM run_slots WHERE tenant_id = ANY(${tenantIds}::text[]) GROUP BY tenant_id
      ON CONFLICT (tenant_id) DO UPDATE SET held = EXCLUDED.held`);
  });
  // Statistics for the rows just written, as a database that grew to this would have them
  // (else autovacuum's analyze lands in the measured run).
  await inSystem(tollgate.deps.database.db, (tx) => tx.execute(sql`ANALYZE credit_reservations, run_slots, run_leases`));
}
