// Tenants for the bench, made through Tollgate's public API only, so the bench measures
// what a real deployment would hold. `call(method, path, body, token)` → { status, body }
// is fetch over HTTP in run.mjs and app.inject in inprocess.ts.

export const OPERATOR = { email: 'bench-operator@example.com', password: 'bench-operator-password' };
const PASSWORD = 'bench-tenant-password';
// A decision reserves credits until settled; the bench never settles, so grant plenty.
const CREDITS = 1_000_000_000;

/** Over HTTP: JSON in, JSON out. */
export function httpCaller(baseUrl) {
  return async (method, path, body, token) => {
    const res = await fetch(baseUrl + path, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
}

async function must(call, expected, method, path, body, token) {
  const res = await call(method, path, body, token);
  if (res.status !== expected) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function operatorToken(call) {
  return (await must(call, 200, 'POST', '/v1/token', { grantType: 'password', ...OPERATOR })).accessToken;
}

/**
 * `count` tenants, each with an API key scoped to authorize. The enterprise plan has no
 * concurrent-run cap (a PATCH with concurrentRuns: null only removes an override, falling
 * back to the plan's cap), and the runs limit is set per tenant as an override.
 */
export async function seedTenants(call, opToken, { count, runs, tag }) {
  const tenants = [];
  for (let i = 0; i < count; i += 10) {
    const batch = Array.from({ length: Math.min(10, count - i) }, (_, j) => seedTenant(call, opToken, `${tag}-${i + j}`, runs));
    tenants.push(...await Promise.all(batch));
  }
  return tenants;
}

async function seedTenant(call, opToken, name, runs) {
  const signup = await must(call, 201, 'POST', '/v1/signup', { email: `${name}-${process.pid}@example.com`, password: PASSWORD });
  const tenantId = signup.tenant.id;
  const { key } = await must(call, 201, 'POST', `/v1/tenants/${tenantId}/api-keys`, { name: 'bench', scopes: ['authorize'] }, signup.accessToken);
  await must(call, 200, 'PATCH', `/v1/admin/tenants/${tenantId}`, { plan: 'enterprise', limits: { runs } }, opToken);
  await must(call, 200, 'POST', `/v1/admin/tenants/${tenantId}/credits`, { amount: CREDITS, reason: 'bench', idempotencyKey: `bench-${name}` }, opToken);
  return { tenantId, key, runs };
}

export async function setRunsLimit(call, opToken, tenantId, runs) {
  await must(call, 200, 'PATCH', `/v1/admin/tenants/${tenantId}`, { limits: { runs } }, opToken);
}
