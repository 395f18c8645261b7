// The decision without HTTP: createTollgate(config).authorize(key, request) called by
// `callers` concurrent loops for `seconds`. Run by run.mjs as a child process with tsx,
// so the bench itself stays plain JavaScript. Storage comes from the environment:
// DATABASE_URL → PostgreSQL, else PGlite in TOLLGATE_DATA_DIR. Prints one JSON line.
import { performance } from 'node:perf_hooks';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { createTollgate } from '../server/src/library.js';
// Plain ESM shared with run.mjs: the same seeding over app.inject as over HTTP.
import { OPERATOR, operatorToken, seedTenants } from './seed.mjs';
import { cpuNow, cpuPerRequest } from './procs.mjs';

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
const tenants: { key: string }[] = await seedTenants(call, await operatorToken(call), { count: tenantCount, runs: 1_000_000_000, tag: 'inproc' });
const request = { operation: 'clustering' };

// Warm the credential and tenant caches once per key, as a running service would have them.
for (const { key } of tenants) await tollgate.authorize(key, request);

let allowed = 0;
let denied = 0;
let failed = 0;
let firstError: string | undefined;
const latencies: number[] = [];
let next = 0;
// This process is the server here: its CPU and PostgreSQL's (none on PGlite, which runs in it).
const cpuBefore = cpuNow(process.pid);
const deadline = performance.now() + seconds * 1000;
const started = performance.now();
await Promise.all(Array.from({ length: callers }, async () => {
  while (performance.now() < deadline) {
    const key = tenants[next++ % tenants.length]!.key;
    const t0 = performance.now();
    try {
      const decision = await tollgate.authorize(key, request);
      if (decision.allowed) allowed++;
      else denied++;
    } catch (error) {
      failed++;
      firstError ??= String(error);
    }
    latencies.push(performance.now() - t0);
  }
}));
const elapsed = (performance.now() - started) / 1000;
const cpu = cpuPerRequest(cpuBefore, cpuNow(process.pid), allowed + denied);

await app.close();
await tollgate.close();
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
process.stdout.write(`${JSON.stringify({
  storage: tollgate.deps.database.kind, tenants: tenantCount, callers, seconds: elapsed,
  perSecond: (allowed + denied) / elapsed, allowed, denied, failed, firstError, p50: pct(0.5), p99: pct(0.99),
  cpu: cpu && { server: cpu.server, postgres: cpu.postgres, redis: null, load: null },
})}\n`);
