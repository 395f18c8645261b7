// The usage export of a large tenant (issue 22): a tenant with ROWS usage records exported
// over HTTP as CSV and as NDJSON from a one-process Tollgate on PostgreSQL; rows/s, bytes
// and the server's resident memory (before, the highest sampled during, VmHWM). Run by
// run.mjs (npm run bench), or alone: `node bench/export.mjs [rows]` (its own database).
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createDatabase, dropDatabase, pgUrl, psql, startTollgate, stopAll } from './procs.mjs';

export const EXPORT_ROWS = 1_000_000;
const DAY = '2026-06-01';

/** VmRSS and VmHWM of a process in MiB, from /proc (Linux); nulls elsewhere. */
function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: null, hwm: null };
  }
}

/** The server's V8 heap in use, in MiB (its /metrics, prom-client's default metrics). */
async function heapOf(url) {
  const text = await fetch(`${url}/metrics`).then((res) => res.text()).catch(() => '');
  const bytes = Number(/^tollgate_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]);
  return Number.isFinite(bytes) ? bytes / 1024 / 1024 : null;
}

/**
 * `env` starts a Tollgate on `dbName` (run.mjs's, with DATABASE_URL); one process, so
 * the memory measured is the one serving the export.
 */
export async function benchExport({ env, dbName, logPath, rows = EXPORT_ROWS, log = () => undefined }) {
  const server = await startTollgate({ ...env, TOLLGATE_WORKERS: '1' }, logPath);
  try {
    const email = `export-${process.pid}-${Date.now()}@example.com`;
    const signup = await fetch(`${server.url}/v1/signup`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'bench-export-password' }),
    }).then((res) => res.json());
    const tenantId = signup.tenant.id;
    log(`export: writing ${rows.toLocaleString('en-US')} usage records for one tenant`);
    // One day's worth, 1 ms apart at most 86,400,000 rows; ids sort as the server's do. All
    // settled: the export's default (outcome=settled) carries every one of them.
    const step = Math.max(1, Math.floor(86_400_000 / rows));
    psql(dbName, `INSERT INTO usage_records (tenant_id, id, reservation_id, outcome, meter, bypass, operation, model, route, quantity,
        reserved, credits, actor_type, actor_id, role, idempotency_key, reserved_at, created_at)
      SELECT '${tenantId}', 'usg_' || lpad(i::text, 26, '0'), 'res_' || lpad(i::text, 26, '0'), 'settled', 'runs', i % 50 = 0,
             'content_generation', 'openai/gpt-4o-mini', '{"provider":"default"}'::jsonb, jsonb_build_object('words', i % 2000),
             20, i % 20, 'api_key', 'key_01JBENCHEXPORTKEY0000000000', NULL, 'run-' || i,
             timestamptz '${DAY}T00:00:00Z' + (i * ${step}) * interval '1 millisecond' - interval '2 seconds',
             timestamptz '${DAY}T00:00:00Z' + (i * ${step}) * interval '1 millisecond'
        FROM generate_series(0, ${rows - 1}) AS i;
      ANALYZE usage_records;`);
    const results = {};
    for (const format of ['csv', 'ndjson']) {
      const before = memoryOf(server.pid);
      const heapBefore = await heapOf(server.url);
      let peak = before.rss ?? 0;
      let heapPeak = heapBefore ?? 0;
      const sampler = setInterval(() => { peak = Math.max(peak, memoryOf(server.pid).rss ?? 0); }, 50);
      const heapSampler = setInterval(() => { void heapOf(server.url).then((heap) => { heapPeak = Math.max(heapPeak, heap ?? 0); }); }, 500);
      const started = performance.now();
      const res = await fetch(`${server.url}/v1/tenants/${tenantId}/usage/export?format=${format}&from=${DAY}&to=${DAY}`, {
        headers: { authorization: `Bearer ${signup.accessToken}` },
      });
      if (res.status !== 200) throw new Error(`export ${format}: ${res.status} ${await res.text()}`);
      let bytes = 0;
      let lines = 0;
      for await (const chunk of res.body) {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      }
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      clearInterval(heapSampler);
      const after = memoryOf(server.pid);
      const records = format === 'csv' ? lines - 1 : lines;
      if (records !== rows) throw new Error(`export ${format}: ${records} records, expected ${rows}`);
      results[format] = { rows: records, seconds, rowsPerSecond: records / seconds, megabytes: bytes / 1024 / 1024, rssBefore: before.rss, rssPeak: Math.max(peak, after.rss ?? 0), hwm: after.hwm,
        heapBefore, heapPeak };
      log(`export ${format}: ${Math.round(records / seconds).toLocaleString('en-US')} rows/s, peak RSS ${Math.round(results[format].rssPeak)} MiB, peak heap ${Math.round(heapPeak)} MiB`);
    }
    return { rows, results };
  } finally {
    await server.stop();
  }
}

/** The report's section. */
export function renderExport(r) {
  const f = (x, digits = 0) => (x === null || x === undefined ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits }));
  const lines = [
    `## Usage export (issue 22): one tenant, ${f(r.rows)} records, one server process on PostgreSQL`, '',
    '| format | rows/s | seconds | MiB sent | server RSS before | peak RSS during | VmHWM after | V8 heap used before | peak heap used during |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [format, x] of Object.entries(r.results)) {
    lines.push(`| ${format} | ${f(x.rowsPerSecond)} | ${f(x.seconds, 1)} | ${f(x.megabytes)} | ${f(x.rssBefore)} MiB | ${f(x.rssPeak)} MiB | ${f(x.hwm)} MiB | ${f(x.heapBefore)} MiB | ${f(x.heapPeak)} MiB |`);
  }
  lines.push('', 'Keyset pages of `usage.exportPageSize` records (default 1,000) read as the socket drains: peak RSS is the process\'s, sampled every 50 ms, ' +
    'and the V8 heap in use is read from its /metrics every 500 ms; neither should grow with the number of records (compare a run with fewer: `node bench/export.mjs 20000`).', '');
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = Number(process.argv[2] ?? EXPORT_ROWS);
  const dbName = `tollgate_bench_export_${process.pid}`;
  createDatabase(dbName);
  const tmp = mkdtempSync(join(tmpdir(), 'tollgate-bench-export-'));
  try {
    const r = await benchExport({
      dbName, rows, logPath: join(tmp, 'server.log'), log: (m) => process.stderr.write(`[bench] ${m}\n`),
      env: { DATABASE_URL: pgUrl(dbName), TOLLGATE_DATA_DIR: join(tmp, 'data'), LOG_LEVEL: 'warn', TOLLGATE_SECRET_KEY: 'bench-export-secret-bench-export-secret' },
    });
    process.stdout.write(`${renderExport(r)}\n`);
  } finally {
    await stopAll();
    dropDatabase(dbName);
  }
}
