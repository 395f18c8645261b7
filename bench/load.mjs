// autocannon runs, reduced to the figures the report prints.
import autocannon from 'autocannon';

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
 * response bodies: `"allowed":true` is a cheap substring test that keeps the load
 * generator (which shares the machine's cores with the server) from parsing JSON.
 */
export async function loadDecisions(url, { path, body, credentials, connections, seconds, overallRate }) {
  let next = 0;
  const counts = { allowed: 0, denied: 0, other: 0, statuses: {}, codes: {} };
  const result = await run({
    url,
    connections,
    duration: seconds,
    ...(overallRate ? { overallRate } : {}),
    requests: [{
      method: 'POST',
      path,
      body: JSON.stringify(body),
      setupRequest: (request) => {
        const credential = credentials[next++ % credentials.length];
        request.headers = { ...request.headers, 'content-type': 'application/json', authorization: `Bearer ${credential}` };
        return request;
      },
      onResponse: (status, text) => {
        counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
        if (status !== 200) { counts.other++; return; }
        if (text.includes('"allowed":true')) { counts.allowed++; return; }
        counts.denied++;
        const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? '?';
        counts.codes[code] = (counts.codes[code] ?? 0) + 1;
      },
    }],
  });
  return summary(result, counts);
}
