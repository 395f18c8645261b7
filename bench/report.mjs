// The markdown the bench prints and keeps in bench/results/<date>.md. Figures are shown
// as measured; the targets table only divides them by each other.

const n = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const ms = (x) => (x === undefined || x === null ? '–' : `${Number(x).toFixed(x < 10 ? 2 : 1)} ms`);
// Two significant digits below 1, so a small ratio does not round to 0.
const ratio = (x) => `${x < 1 ? x.toPrecision(2) : x.toFixed(2)}×`;
const pct = (x) => `${x < 0.1 ? (x * 100).toPrecision(2) : (x * 100).toFixed(0)} %`;
/** The open-reservations run's tenants' calls a second ÷ those of the tenants with none in the same run (inprocess.ts). */
export const openRatio = (inprocess) => inprocess.slotsOpen.perSecond / inprocess.slotsOpen.control.perSecond;

export function targets(r) {
  const a = r.authorize;
  return [
    ['authorize, 100 tenants ÷ /hello req/s', pct(a.spread.rps / r.hello.rps), '≥ 60 %', a.spread.rps / r.hello.rps >= 0.6],
    ['authorize, 100 tenants ÷ pgbench 1,000 rows @32', ratio(a.spread.rps / r.pgbench.spread32), '≥ 1×', a.spread.rps / r.pgbench.spread32 >= 1],
    [`authorize p99 at 70 % of peak (${n(a.fixed.rate)} req/s, paced)`, ms(a.fixed.p99), '≤ 15 ms', a.fixed.p99 <= 15],
    ['one hot tenant ÷ pgbench hot row @32', ratio(a.hot.rps / r.pgbench.hot32), '≥ 2×', a.hot.rps / r.pgbench.hot32 >= 2],
    ['one hot tenant admitted exactly its limit', `${n(a.hot.admitted)} of ${n(a.hot.limit)}`, '= limit', a.hot.admitted === a.hot.limit],
    ['in-process, PGlite', `${n(r.inprocess.pglite.perSecond)}/s`, '≥ 20,000/s', r.inprocess.pglite.perSecond >= 20_000],
    ['in-process, PostgreSQL ÷ pgbench hot row @32', ratio(r.inprocess.postgres.perSecond / r.pgbench.hot32), '≥ 5×', r.inprocess.postgres.perSecond / r.pgbench.hot32 >= 5],
    ['Tollgate hot tenant ÷ naive hot tenant', ratio(a.hot.rps / r.naive.rps), '≥ 5×', a.hot.rps / r.naive.rps >= 5],
    ['in-process with 10,000 open reservations per tenant ÷ none (slots on)', pct(openRatio(r.inprocess)), '≥ 90 %', openRatio(r.inprocess) >= 0.9],
    ['naive over-admits, Tollgate does not', `naive +${n(r.naive.overAdmitted)}, Tollgate +${n(a.hot.admitted - a.hot.limit)}`, 'naive > 0, Tollgate 0', r.naive.overAdmitted > 0 && a.hot.admitted === a.hot.limit],
  ];
}

/** Issue 24's targets (a leaner decision), from the same run. */
export function leanTargets(r) {
  const a = r.authorize;
  const pg = r.inprocess.postgres;
  return [
    ['authorize, 100 tenants ÷ `POST /decision` req/s', pct(a.spread.rps / r.postCeiling.rps), '≥ 35 %', a.spread.rps / r.postCeiling.rps >= 0.35],
    ['PostgreSQL CPU per admitted decision (over HTTP · in-process)', `${n(a.spread.cpu?.postgres)} µs · ${n(pg.cpu?.postgres)} µs`, '≤ 100 µs', Math.max(a.spread.cpu?.postgres ?? Infinity, pg.cpu?.postgres ?? Infinity) <= 100],
    ['server CPU per decision, 100 tenants over HTTP', `${n(a.spread.cpu?.server)} µs`, '≤ 180 µs', (a.spread.cpu?.server ?? Infinity) <= 180],
    [`p99 at a paced ${n(a.typical.rate)} decisions/s, 100 tenants`, `${ms(a.typical.p99)} (p50 ${ms(a.typical.p50)}, p99.9 ${ms(a.typical.p999)})`, '≤ 5 ms', a.typical.p99 <= 5],
    [`p99 at 70 % of peak (${n(a.fixed.rate)} req/s), paced`, ms(a.fixed.p99), '≤ 20 ms', a.fixed.p99 <= 20],
    ['in-process on PGlite', `${n(r.inprocess.pglite.perSecond)}/s`, '≥ 8,000/s', r.inprocess.pglite.perSecond >= 8_000],
    ['in-process on PostgreSQL ÷ pgbench hot row @32', ratio(pg.perSecond / r.pgbench.hot32), '≥ 4×', pg.perSecond / r.pgbench.hot32 >= 4],
    ['with 10,000 open reservations per tenant ÷ none', pct(openRatio(r.inprocess)), '≥ 90 %', openRatio(r.inprocess) >= 0.9],
    ['over-admission, any run', `+${n(a.hot.admitted - a.hot.limit)}; ${a.overLimit.length} tenants over their limit`, '0', a.hot.admitted === a.hot.limit && a.overLimit.length === 0],
  ];
}

/** A markdown table, and the blank line after it. */
function tableLines(head, rows) {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`), ''];
}

/** CPU per request in µs: the server's processes · Redis · PostgreSQL · the load generator. */
const cpu = (c) => (c ? [c.server, c.redis, c.postgres, c.load].map((x) => (x === null || x === undefined ? '–' : n(x))).join(' · ') : '–');

export function renderReport(r) {
  const a = r.authorize;
  const lines = [];
  const table = (head, rows) => lines.push(...tableLines(head, rows));
  lines.push(`# Tollgate bench, ${r.date}`, '');
  lines.push(`Machine: ${r.machine.nproc} CPUs (${r.machine.cpu}) · Node ${r.machine.node} · PostgreSQL ${r.machine.postgres} · ` +
    `autocannon ${r.machine.autocannon}, ${r.settings.connections} connections, ${r.settings.seconds} s per HTTP run (the typical paced run ${r.settings.typicalSeconds} s) · pgbench ${r.settings.pgbenchSeconds} s per run · ` +
    `Tollgate pool ${r.settings.poolSize} connections per process and 2 for the decision statements, synchronous_commit ${r.machine.synchronousCommit}, autovacuum ${r.machine.autovacuum} (the server's own setting), LOG_LEVEL=warn`, '',
    r.machine.workers > 1
      ? '`/hello`, `POST /decision`, authorize over 100 tenants and the naive baseline are each measured with one process ' +
        `and with ${r.machine.workers} on one port, one per core, and the faster counts, its process count in the notes. Tollgate as one process keeps its rate-limit ` +
        `buckets in memory; as ${r.machine.workers} (\`TOLLGATE_WORKERS=${r.machine.workers}\`, node:cluster) in a Redis the bench starts (\`REDIS_URL\`; big buckets spent ` +
        'from per-process leases). The paced, typical and hot-tenant authorize runs use the process count of the faster 100-tenant run.'
      : 'Every HTTP server of the run runs as one process.',
    '',
    'Latencies are autocannon\'s, in closed loop (each connection sends its next request when its last one is answered), or, in-process, per call. ' +
    'The fixed-rate run is open loop (bench/load.mjs `loadPaced`, undici): request i is due at i / rate, is sent then (woken by a worker thread\'s clock, bench/ticker.mjs, where Node\'s timers would send it up to a millisecond late) over at most the same number of connections, ' +
    'and its latency counts from when it was due, so a slow answer also shows in the requests it held up; each paced run\'s first 3 s at its rate are not measured (one run, no pause: the measured part begins in the steady state, not with the server working off the run before, nor climbing back from idle), and its CPU and statements are read from where the measured part begins. ' +
    '(autocannon\'s own fixed rate sends each connection\'s share of a second back to back at the start of the second, and its correction for coordinated omission assumes requests 1 ms apart, adding samples that reshape the percentiles.) ' +
    'In-process PGlite keeps its data in a fresh temp directory on disk; each in-process run on PostgreSQL checkpoints before its measured part, so that the write-ahead log of its seeding (a million reservations for the open-reservations run) does not set a checkpoint off inside it. Every Tollgate figure is one API key per call, ' +
    'operation `clustering` (10 credits, one run), no idempotency key; the bench never settles, so each admitted decision holds its reservation. ' +
    'CPU per request is read from /proc around each run: the server\'s processes (in-process: the calling process) · the bench\'s Redis · every PostgreSQL process of the machine · ' +
    'the bench process, where the load generator runs; in µs of user and system time.', '');

  lines.push('## Ceilings and decisions', '');
  table(['what', 'throughput', 'p50', 'p99', 'CPU µs/request', 'notes'], [
    ['`GET /hello` (Fastify, no auth, no DB)', `${n(r.hello.rps)} req/s`, ms(r.hello.p50), ms(r.hello.p99), cpu(r.hello.cpu), `HTTP ceiling; ${processes(r.hello)}`],
    ['`POST /decision` (Fastify, JSON body, a fixed decision-sized answer; no auth, no DB)', `${n(r.postCeiling.rps)} req/s`, ms(r.postCeiling.p50), ms(r.postCeiling.p99), cpu(r.postCeiling.cpu), `HTTP ceiling for a call shaped like authorize; ${processes(r.postCeiling)}`],
    ['pgbench `UPDATE … RETURNING`, hot row, 8 clients', `${n(r.pgbench.hot8)} tps`, '', '', '', 'one statement, one commit'],
    ['pgbench `UPDATE … RETURNING`, hot row, 32 clients', `${n(r.pgbench.hot32)} tps`, '', '', '', ''],
    ['pgbench `UPDATE … RETURNING`, 1,000 rows, 8 clients', `${n(r.pgbench.spread8)} tps`, '', '', '', ''],
    ['pgbench `UPDATE … RETURNING`, 1,000 rows, 32 clients', `${n(r.pgbench.spread32)} tps`, '', '', '', 'database ceiling'],
    ['`POST /v1/authorize`, 100 tenants (PostgreSQL)', `${n(a.spread.rps)} req/s`, ms(a.spread.p50), ms(a.spread.p99), cpu(a.spread.cpu), `${processes(a.spread)}${(a.spread.others ?? []).map((o) => ` (${processes(o)}: ${n(o.rps)} req/s, CPU ${cpu(o.cpu)})`).join('')}; ${outcome(a.spread)}`],
    [`\`POST /v1/authorize\`, 100 tenants, fixed ${n(a.fixed.rate)} req/s (70 %), paced`, `${n(a.fixed.rps)} req/s`, ms(a.fixed.p50), ms(a.fixed.p99), cpu(a.fixed.cpu), outcome(a.fixed)],
    [`\`POST /v1/authorize\`, 100 tenants, typical ${n(a.typical.rate)} req/s, paced (p99.9 ${ms(a.typical.p999)})`, `${n(a.typical.rps)} req/s`, ms(a.typical.p50), ms(a.typical.p99), cpu(a.typical.cpu), `the time Tollgate adds to each AI run at a typical load; ${outcome(a.typical)}`],
    ['`POST /v1/authorize`, one hot tenant (PostgreSQL)', `${n(a.hot.rps)} req/s`, ms(a.hot.p50), ms(a.hot.p99), cpu(a.hot.cpu), `${processes(a.hot)}; ${outcome(a.hot)}`],
    [`in-process \`authorize()\`, PGlite, ${r.inprocess.pglite.callers} callers`, `${n(r.inprocess.pglite.perSecond)}/s`, ms(r.inprocess.pglite.p50), ms(r.inprocess.pglite.p99), cpu(r.inprocess.pglite.cpu), inprocOutcome(r.inprocess.pglite)],
    [`in-process \`authorize()\`, PostgreSQL, ${r.inprocess.postgres.callers} callers`, `${n(r.inprocess.postgres.perSecond)}/s`, ms(r.inprocess.postgres.p50), ms(r.inprocess.postgres.p99), cpu(r.inprocess.postgres.cpu), inprocOutcome(r.inprocess.postgres)],
    [`in-process \`authorize()\`, PostgreSQL, ${r.inprocess.postgresAlone.callers} callers, \`groupCommit: false\``, `${n(r.inprocess.postgresAlone.perSecond)}/s`, ms(r.inprocess.postgresAlone.p50), ms(r.inprocess.postgresAlone.p99), cpu(r.inprocess.postgresAlone.cpu), `one transaction per decision (the reference path); ${inprocOutcome(r.inprocess.postgresAlone)}`],
    [`in-process \`authorize()\`, PostgreSQL, concurrent-run slots on, none open`, `${n(r.inprocess.slots.perSecond)}/s`, ms(r.inprocess.slots.p50), ms(r.inprocess.slots.p99), cpu(r.inprocess.slots.cpu), inprocOutcome(r.inprocess.slots)],
    [`in-process \`authorize()\`, PostgreSQL, concurrent-run slots on, ${n(r.inprocess.slotsOpen.openPerTenant)} open reservations per tenant`, `${n(r.inprocess.slotsOpen.perSecond)}/s`, ms(r.inprocess.slotsOpen.p50), ms(r.inprocess.slotsOpen.p99), cpu(r.inprocess.slotsOpen.cpu), `${pct(openRatio(r.inprocess))} of as many tenants with none in the same run, measured in alternating phases (${n(r.inprocess.slotsOpen.control.perSecond)}/s; ≥ 90 %, issue 24); ${inprocOutcome(r.inprocess.slotsOpen)}`],
    ['naive baseline (JWT verify, SELECT then UPDATE), one hot tenant', `${n(r.naive.rps)} req/s`, ms(r.naive.p50), ms(r.naive.p99), cpu(r.naive.cpu), `${processes(r.naive)}; ${outcome(r.naive)}`],
  ]);

  lines.push(...waits(a), ...writes(r));

  lines.push('## Admitted against the seeded limit (one hot tenant, 50 connections)', '');
  table(['server', 'requests', 'limit', 'admitted', 'over the limit'], [
    ['Tollgate', n(a.hot.requests), n(a.hot.limit), n(a.hot.admitted), n(a.hot.admitted - a.hot.limit)],
    ['naive baseline', n(r.naive.requests), n(r.naive.limit), n(r.naive.admitted), n(r.naive.overAdmitted)],
  ]);
  lines.push(`Tollgate, all ${n(a.tenantsChecked)} tenants of the HTTP runs: ${a.overLimit.length === 0 ? 'none admitted more than its runs limit' : `**${a.overLimit.length} admitted more than their limit**`}; ` +
    `admitted per the counters ${n(a.countedAdmitted)}, per held reservations ${n(a.reservations)}.`, '');

  lines.push('## Targets (issue 5)', '');
  table(['ratio', 'measured', 'target', ''], targets(r).map(([name, value, target, met]) => [name, value, target, met ? 'met' : '**not met**']));
  lines.push('## Targets (issue 24: a leaner decision)', '');
  table(['figure', 'measured', 'target', ''], leanTargets(r).map(([name, value, target, met]) => [name, value, target, met ? 'met' : '**not met**']));
  lines.push(`Beside the targets: \`POST /decision\`, the same Fastify answering a fixed decision to the same body, served ${pct(r.postCeiling.rps / r.hello.rps)} of ` +
    `\`/hello\`'s requests/s; authorize over 100 tenants served ${pct(a.spread.rps / r.postCeiling.rps)} of \`POST /decision\`'s.`, '');
  lines.push(...statementSteps(r.inprocess.postgres), '');
  const prof = a.profiled;
  lines.push('## Where the server\'s CPU goes', '');
  lines.push(`The 100-tenant authorize load once more on one process, V8's CPU profiler on for ${r.settings.seconds} s of it after a warm-up (bench/profiler.mjs; ${n(prof.rps)} req/s while profiled): ` +
    `flame graph [\`${prof.file}\`](${prof.file}). The frames with the most samples in themselves, as a share of the samples not idle:`, '');
  table(['frame', 'self'], prof.hottest.map((f) => [`\`${f.frame}\``, `${f.selfShare.toFixed(1)} %`]));
  lines.push(...allocations(a.allocations));
  if (r.problems.length > 0) {
    lines.push('## Seen while benchmarking', '');
    for (const p of r.problems) lines.push(`- ${p}`);
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * What the paced runs' answers wait on: their decision statements (commit included), the
 * disk's fsync that every commit waits for, and the server's garbage collector; and how
 * much of the slow answers' time the server saw (run.mjs waitTimes).
 */
function waits(a) {
  const share = (x) => (x === null || x === undefined ? '–' : pct(x));
  const atRates = (figure) => `${figure(a.typical)} at ${n(a.typical.rate)} req/s; ${figure(a.fixed)} at ${n(a.fixed.rate)} req/s`;
  const statements = ({ server }) => {
    const s = server?.statements;
    if (!s) return '–';
    const inPostgres = s.inPostgresMs === null ? '' : ` (${ms(s.inPostgresMs)} of it inside PostgreSQL's \`tollgate_decide\`)`;
    return `${n(s.count)} statements, mean ${ms(s.meanMs)}${inPostgres}, ${share(s.over5ms)} slower than 5 ms`;
  };
  const answers = (run) => `${share(run.over5ms)}${run.server?.answers ? ` (the server's own time: ${share(run.server.answers.over5ms)})` : ''}`;
  const gc = ({ server }) => (server ? `${n(server.gc.count)} pauses, ${ms(server.gc.ms)} in all (${share(server.gc.share)} of the run)` : '–');
  const bySecond = (run) => (run.p99BySecond?.length ? run.p99BySecond.map((x) => (x === null ? '–' : x.toFixed(1))).join(' · ') : '–');
  const sync = (d) => (d ? `p50 ${ms(d.p50)}, p99 ${ms(d.p99)}, p99.9 ${ms(d.p999)}, max ${ms(d.max)} (${n(d.syncs)} syncs)` : 'not probed');
  return ['## What the paced runs\' answers wait on', '',
    'Each answer waits for its batch\'s decision statement, and the statement for its commit\'s fsync: the disk\'s slow syncs are a floor under the slow answers. A statement\'s time as the server sees it is its function\'s time inside PostgreSQL (`pg_stat_user_functions`) and the rest: the commit\'s WAL flush, the round trip, and the event loop getting to the answer. The server\'s own time for an answer runs from Fastify\'s reading its request to its reply (`tollgate_http_request_duration_seconds`); the load generator\'s from when the request was due, so the difference is time outside the server\'s handler: the load generator on the same cores, the kernel, requests read late while the event loop was busy.', '',
    `- Answers slower than 5 ms: ${atRates(answers)}.`,
    `- p99 of each second of the run (by when its requests were due), in ms: ${atRates(bySecond)}.`,
    `- Decision statements, from sending to the answer, commit included (the server's \`tollgate_decision_batch_seconds\`): ${atRates(statements)}.`,
    `- The server's garbage collector, holding its main thread (\`tollgate_nodejs_gc_duration_seconds\`, every kind): ${atRates(gc)}.`,
    `- The disk's fsync (bench/fsync-probe.mjs: an 8 KiB write and fdatasync every 10 ms, beside PostgreSQL's data directory): at rest ${sync(a.disk?.atRest)}; beside ${n(a.typical.rate)} req/s once more ${sync(a.disk?.underLoad)}.`, ''];
}

/**
 * What a decision writes, as PostgreSQL's write-ahead log measures it (run.mjs
 * walPosition): every run admits every call, so this is per admitted decision.
 */
function writes(r) {
  const a = r.authorize;
  const kib = (run) => (run?.walPerRequest === undefined ? '–' : `${(run.walPerRequest / 1024).toFixed(2)} KiB`);
  return ['## What a decision writes', '',
    'PostgreSQL\'s write-ahead log per decision, from its position before and after each run: each row, index entry and row lock written, and a page\'s full image ' +
    'the first time it changes after a checkpoint (so a run during which a checkpoint begins writes more). Every decision of these runs is admitted.', '',
    `- Over HTTP, 100 tenants: ${kib(a.spread)} closed loop; ${kib(a.fixed)} at ${n(a.fixed.rate)} req/s; ${kib(a.typical)} at ${n(a.typical.rate)} req/s.`,
    `- In-process: ${kib(r.inprocess.postgres)} on PostgreSQL; ${kib(r.inprocess.pglite)} on PGlite.`, ''];
}

/** What a decision allocates in the server (run.mjs profileAllocations, allocations.mjs). */
function allocations(al) {
  const kb = (bytes) => `${(bytes / 1000).toFixed(1)} KB`;
  const lines = ['## What a decision allocates', '',
    `The 100-tenant authorize load once more on one process, V8's sampling heap profiler on for ${al.seconds} s (${n(al.decisions)} decisions; bench/profiler.mjs): ` +
    `**${kb(al.bytesPerDecision)} per decision**, the objects collected since included — what the young generation's collections work through. ` +
    'Most runs of similar throughput repeat it within ~1 % (now and then one comes out ~6 % higher) where CPU time does not; smaller batches (a slower run) raise it, ' +
    'as what a batch statement allocates is shared by fewer decisions. By where the allocating code is:', ''];
  lines.push(...tableLines(['code', 'per decision'], al.bySource.slice(0, 8).map((s) => [s.name, kb(s.bytes)])));
  lines.push('Tollgate\'s own functions that allocate most themselves:', '');
  lines.push(...tableLines(['function', 'per decision'], al.own.map((f) => [`\`${f.name}\``, kb(f.bytes)])));
  return lines;
}

/** What each step of the decision statement does (db/functions/decide.sql, events.sql, stamps.sql). */
const STEPS = {
  tollgate_decide: 'the batch: the tenant wall, the idempotency keys\' locks, each request\'s verdict (stamps, kept answers), the kept answers\' inserts, the answer rows',
  tollgate_admit: 'admission: the counters, accounts and slot counts locked, the candidates admitted in arrival order (a PL/pgSQL loop), those rows written',
  tollgate_admit_inserts: 'the new rows: reservations (each also its decision\'s record and its meter\'s usage event), key caps\' usage events, bypass audit entries',
  tollgate_limit_crossings: 'limit-crossing events (limit.warning, limit.reached)',
  tollgate_credits_low: 'the credits.low event',
};

/**
 * The decision statement's steps in the in-process run on PostgreSQL, as PostgreSQL timed
 * them (track_functions): wall time inside each function, so time spent waiting for a
 * core (two, shared with the server) or a lock counts too.
 */
function statementSteps(run) {
  const steps = run.steps ?? [];
  const decide = steps.find((s) => s.name === 'tollgate_decide');
  if (!decide || decide.calls === 0) return ['## Where the decision statement\'s time goes', '', 'Not measured: PostgreSQL reported no timings for the run.'];
  const perBatch = (x) => `${n(Math.round((x * 1000) / decide.calls))} µs`;
  const shown = steps.filter((s) => STEPS[s.name] && s.calls > 0);
  const lines = ['## Where the decision statement\'s time goes', '',
    `The in-process run on PostgreSQL (${n(decide.calls)} batches, about ${n(Math.round(run.allowed / decide.calls))} decisions each) with PostgreSQL timing each function of the statement: ` +
    'time inside each step, excluding the steps it calls, per batch and as a share of the whole statement. Wall time: waiting for one of the two cores, or for a lock, counts; the commit, after the statement, does not.', '',
    '| step | what it does | per batch | share |', '|---|---|---|---|'];
  for (const s of shown) lines.push(`| \`${s.name}\` | ${STEPS[s.name]} | ${perBatch(s.selfMs)} | ${pct(s.selfMs / decide.totalMs)} |`);
  lines.push(`| the whole statement | | ${perBatch(decide.totalMs)} | 100 % |`);
  return lines;
}

const processes = (s) => (s.processes === 1 ? '1 process' : `${s.processes} processes`);

function outcome(s) {
  const parts = [`${n(s.allowed)} allowed`, `${n(s.denied)} denied`];
  for (const [code, count] of Object.entries(s.codes ?? {})) parts.push(`${code} ${n(count)}`);
  if (s.other) parts.push(`**${n(s.other)} non-200** (${Object.entries(s.statuses).filter(([st]) => st !== '200').map(([st, c]) => `${st}×${c}`).join(', ')})`);
  if (s.errors) parts.push(`**${n(s.errors)} socket errors**`);
  if (s.timeouts) parts.push(`**${n(s.timeouts)} timeouts**`);
  return parts.join(', ');
}

function inprocOutcome(s) {
  return `${n(s.allowed)} allowed, ${n(s.denied)} denied over ${s.tenants} tenants${s.failed ? `, **${n(s.failed)} threw** (${s.firstError})` : ''}`;
}
