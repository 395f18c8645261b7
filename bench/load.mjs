// Load runs, reduced to the figures the report prints: autocannon for the closed-loop runs
// (every connection sends its next request when the last one is answered), and a paced,
// open-loop run for latency at a fixed rate.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { percentile } from './procs.mjs';

function run(options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

function summary(result, extra = {}) {
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    ...extra,
  };
}

export async function loadHello(url, { connections, seconds }) {
  return summary(await run({ url: `${url}/hello`, connections, duration: seconds }));
}

/**
 * POSTs one body, rotating the bearer credential across `credentials` request by request,
 * so every connection spreads its calls over all tenants. Decisions are counted from the
 * response bodies (the load generator shares the machine's cores with the server). With a
 * single credential the request is built once, not per call: rebuilding it would only
 * spend the cores the server needs.
 */
export async function loadDecisions(url, { path, body, credentials, connections, seconds }) {
  let next = 0;
  const counts = newCounts();
  const headers = (credential) => ({ 'content-type': 'application/json', authorization: `Bearer ${credential}` });
  const request = { method: 'POST', path, body: JSON.stringify(body), onResponse: (status, text) => count(counts, status, text) };
  const result = await run({
    url,
    connections,
    duration: seconds,
    requests: [credentials.length === 1 ? { ...request, headers: headers(credentials[0]) } : {
      ...request,
      setupRequest: (r) => {
        r.headers = { ...r.headers, ...headers(credentials[next++ % credentials.length]) };
        return r;
      },
    }],
  });
  return summary(result, counts);
}

/**
 * The same calls at a fixed rate, open loop: request i is due at start + i / rate, sent
 * then (woken by a worker's precise clock, ticker.mjs) whatever is still unanswered (over
 * at most `connections` keep-alive connections, queueing when all are busy), and its
 * latency is counted from when it was due. A slow
 * answer thus shows in every request it held up (no coordinated omission). Percentiles
 * are over the answers the server gave; failed requests are counted apart. With
 * `warmupSeconds`, the run's first seconds at the same rate are not measured, and
 * `onMeasuring` is called as the measured part begins (its promise awaited at the end).
 *
 * Not autocannon's overallRate: that lets each connection send its share of a second back
 * to back from the start of the second, then wait for the next one, so the server sees
 * bursts at full speed and idle gaps rather than a rate; and its correction for coordinated
 * omission assumes requests meant 1 ms apart (ceil(1 / rate per connection)), where they
 * were ~34 ms apart, recording for each answer of L ms samples of L, L - 1, … 1 ms, which
 * reshapes the distribution.
 */
export async function loadPaced(url, { path, body, credentials, connections, seconds, rate, warmupSeconds = 0, onMeasuring }) {
  // The warm-up is the run's first part, not a run of its own: a pause between them would
  // let the server drain, and the measured part would begin with the climb back.
  const unmeasured = Math.round(rate * warmupSeconds);
  const measured = Math.round(rate * seconds);
  const total = unmeasured + measured;
  if (!(measured > 0)) throw new Error(`a paced run needs a rate and a duration (rate ${rate}, ${seconds} s)`);
  // A request its connection has carried for 30 s unanswered fails (undici's default waits 300 s).
  const pool = new Pool(url, { connections, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const payload = JSON.stringify(body);
  const options = credentials.map((credential) => ({
    path, method: 'POST', body: payload, headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
  }));
  const latencies = [];
  const counts = newCounts();
  let errors = 0;
  let timeouts = 0;
  let settled = 0;
  let sent = 0;
  let measuring;
  const ticker = new Worker(new URL('./ticker.mjs', import.meta.url), { workerData: { rate, total } });
  await new Promise((resolve, reject) => {
    ticker.once('message', resolve);
    ticker.once('error', reject);
  });
  const start = performance.now();
  let measuredFrom = null;
  // Latencies by the second of the measured part their requests were due in: a tail from
  // one stall and a tail spread over the run read alike in the percentiles, not here.
  const bySecond = [];
  const send = async (i) => {
    const due = start + (i * 1000) / rate;
    const measure = i >= unmeasured;
    if (measure && measuredFrom === null) {
      measuredFrom = performance.now();
      // After this request is on its way: reading /proc and /metrics takes a moment.
      measuring = new Promise((resolve) => setImmediate(resolve)).then(onMeasuring);
    }
    try {
      const { statusCode, text } = await dispatch(pool, options[i % options.length]);
      if (!measure) return;
      const latency = performance.now() - due;
      latencies.push(latency);
      (bySecond[Math.floor((i - unmeasured) / rate)] ??= []).push(latency);
      count(counts, statusCode, text);
    } catch (error) {
      if (!measure) return;
      if (error?.code === 'UND_ERR_HEADERS_TIMEOUT' || error?.code === 'UND_ERR_BODY_TIMEOUT') timeouts++;
      else errors++;
    } finally {
      if (measure) settled++;
    }
  };
  // The clock is a worker's (ticker.mjs): each request goes when it is due, to ~0.1 ms.
  const inFlight = [];
  ticker.on('message', (due) => {
    while (sent < due) inFlight.push(send(sent++));
  });
  ticker.postMessage({ startAt: performance.timeOrigin + start });
  await new Promise((resolve, reject) => {
    ticker.once('error', reject);
    ticker.once('exit', resolve);
  });
  if (sent !== total) throw new Error(`the paced run's clock stopped after ${sent} of ${total} requests`);
  await Promise.all(inFlight);
  await measuring;
  const elapsed = (performance.now() - measuredFrom) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length === 0 ? null : percentile(latencies, p));
  // The share of answers slower than issue 24's target for p99 at a typical load.
  const over5ms = latencies.length === 0 ? null : latencies.filter((l) => l > 5).length / latencies.length;
  const p99BySecond = bySecond.map((l) => percentile(l.sort((a, b) => a - b), 0.99) ?? null);
  return { rps: settled / elapsed, p50: pct(0.5), p99: pct(0.99), p999: pct(0.999), p99BySecond, over5ms, requests: measured, non2xx: counts.other, errors, timeouts, ...counts };
}

/**
 * One request through the pool's own dispatcher: its status and its body as text. What
 * `pool.request` adds (a body stream per answer, read back through it) cost the load
 * generator ~10 µs of the two cores per request in the paced runs, CPU the server under
 * test went without.
 */
function dispatch(pool, options) {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    const chunks = [];
    pool.dispatch(options, {
      onConnect() {},
      onHeaders(status) {
        statusCode = status;
        return true;
      },
      onData(chunk) {
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        resolve({ statusCode, text: Buffer.concat(chunks).toString('utf8') });
      },
      onError: reject,
    });
  });
}

function newCounts() {
  return { allowed: 0, denied: 0, other: 0, statuses: {}, codes: {} };
}

/** Decisions counted from the body: `"allowed":true` is a cheap substring test that spares the load generator parsing JSON. */
function count(counts, status, text) {
  counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
  if (status !== 200) { counts.other++; return; }
  if (text.includes('"allowed":true')) { counts.allowed++; return; }
  counts.denied++;
  const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? '?';
  counts.codes[code] = (counts.codes[code] ?? 0) + 1;
}
