// Load runs, reduced to the figures the report prints: autocannon for the closed-loop runs
// (every connection sends its next request when the last one is answered), and a paced,
// open-loop run for latency at a fixed rate.
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Pool } from 'undici';

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
 * response bodies (the load generator shares the machine's cores with the server).
 */
export async function loadDecisions(url, { path, body, credentials, connections, seconds }) {
  let next = 0;
  const counts = newCounts();
  const result = await run({
    url,
    connections,
    duration: seconds,
    requests: [{
      method: 'POST',
      path,
      body: JSON.stringify(body),
      setupRequest: (request) => {
        const credential = credentials[next++ % credentials.length];
        request.headers = { ...request.headers, 'content-type': 'application/json', authorization: `Bearer ${credential}` };
        return request;
      },
      onResponse: (status, text) => count(counts, status, text),
    }],
  });
  return summary(result, counts);
}

/**
 * The same calls at a fixed rate, open loop: request i is due at start + i / rate, sent
 * then whatever is still unanswered (over at most `connections` keep-alive connections,
 * queueing when all are busy), and its latency is counted from when it was due. A slow
 * answer thus shows in every request it held up (no coordinated omission).
 *
 * Not autocannon's overallRate: that lets each connection send its share of a second back
 * to back from the start of the second, then wait for the next one, so the server sees
 * bursts at full speed and idle gaps rather than a rate; and its correction for coordinated
 * omission takes an expected interval of ceil(1 / rate per connection) = 1 ms, recording
 * for each answer of L ms further samples of L - 1, L - 2, … 1 ms, which pulls every
 * percentile down.
 */
export function loadPaced(url, { path, body, credentials, connections, seconds, rate }) {
  // A request unanswered for 30 s counts as an error (undici's default waits 300 s).
  const pool = new Pool(url, { connections, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const payload = JSON.stringify(body);
  const options = credentials.map((credential) => ({
    path, method: 'POST', body: payload, headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
  }));
  const total = Math.round(rate * seconds);
  const latencies = new Float64Array(total);
  const counts = newCounts();
  let errors = 0;
  let answered = 0;
  let sent = 0;
  return new Promise((resolve) => {
    const start = performance.now();
    const done = () => {
      if (++answered < total) return;
      const elapsed = (performance.now() - start) / 1000;
      latencies.sort();
      const pct = (p) => latencies[Math.min(total - 1, Math.floor(total * p))];
      void pool.close();
      resolve({ rps: total / elapsed, p50: pct(0.5), p99: pct(0.99), requests: total, non2xx: counts.other, errors, timeouts: 0, ...counts });
    };
    const send = async (i) => {
      const due = start + (i * 1000) / rate;
      try {
        const { statusCode, body: answer } = await pool.request(options[i % options.length]);
        const text = await answer.text();
        latencies[i] = performance.now() - due;
        count(counts, statusCode, text);
      } catch {
        latencies[i] = performance.now() - due;
        errors++;
      }
      done();
    };
    // Timers fire about every millisecond; each sends whatever has come due since.
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) void send(sent++);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
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
