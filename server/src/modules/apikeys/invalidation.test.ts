import pino from 'pino';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../app.js';
import { openDatabase, type Database } from '../../db/client.js';
import { createDeps, type Deps } from '../../deps.js';
import { MemoryMailer } from '../../lib/mailer.js';
import { APP_ROLE, createTeam, onPostgres, startTestApp, testConfig, type SignedUp, type TestApp } from '../../../test/harness.js';
import { startServerProcess, type ServerProcess } from '../../../test/server-process.js';

/**
 * Two Tollgate instances over one database, each with its own pool and caches (on
 * PGlite: one embedded database, two sets of caches). Changes go through instance one;
 * requests go to instance two, whose caches were warmed first and whose TTL cannot run
 * out (the clock stands still), so only the invalidation can make it see the change.
 */
let one: TestApp;
let two: { app: FastifyInstance; deps: Deps; database: Database };
let op: SignedUp;

beforeAll(async () => {
  one = await startTestApp();
  const database = one.db.url ? await openDatabase({ url: one.db.url, appRole: APP_ROLE, migrate: false, poolSize: 5 }) : one.db.database;
  const deps = await createDeps(testConfig(), { clock: one.clock, database, mailer: new MemoryMailer(), logger: pino({ level: 'silent' }) });
  two = { app: await buildApp(deps), deps, database };
  op = await one.operator();
});

afterAll(async () => {
  await two.app.close();
  await two.deps.close();
  if (one.db.url) await two.database.close();
  await one.close();
});

const viaTwo = (options: InjectOptions & { token: string }) => {
  const { token, ...rest } = options;
  return two.app.inject({ ...rest, headers: { ...(rest.headers ?? {}), authorization: `Bearer ${token}` } });
};

/**
 * Notifications keep the caches fresh, but the tenant check also re-reads key, tenant,
 * membership and user state in its transaction, so the other instance must refuse on
 * the very first request after the change, on PGlite and PostgreSQL alike. The helper
 * still records how many attempts it took, and the tests demand one.
 */
async function flipsWithin<T>(probe: () => Promise<T>, done: (value: T) => boolean, ms = 2000): Promise<{ value: T; attempts: number }> {
  const deadline = Date.now() + ms;
  for (let attempts = 1; ; attempts++) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return { value, attempts };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const maxAttempts = 1;

async function apiKey(owner: SignedUp): Promise<{ id: string; key: string }> {
  const res = await one.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['read'] } });
  return res.json();
}

describe('changes reach another instance sharing the database on its next request', () => {
  it('revocation', async () => {
    const owner = await one.signup();
    const { id, key } = await apiKey(owner);
    const probe = () => viaTwo({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: key });
    expect((await probe()).statusCode).toBe(200);
    expect((await probe()).statusCode).toBe(200);
    await one.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${id}`, token: owner.accessToken });
    const { value, attempts } = await flipsWithin(probe, (r) => r.statusCode === 401);
    expect(value.statusCode).toBe(401);
    expect(attempts).toBeLessThanOrEqual(maxAttempts);
  });

  it('rotation without grace', async () => {
    const owner = await one.signup();
    const { id, key } = await apiKey(owner);
    const probe = () => viaTwo({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: key });
    expect((await probe()).statusCode).toBe(200);
    const rotated = await one.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys/${id}/rotate`, token: owner.accessToken, payload: { graceSeconds: 0 } });
    expect(rotated.statusCode).toBe(201);
    expect((await flipsWithin(probe, (r) => r.statusCode === 401)).value.statusCode).toBe(401);
    expect((await viaTwo({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: rotated.json().key })).statusCode).toBe(200);
  });

  it('suspension, for keys and tokens alike, and reactivation', async () => {
    const owner = await one.signup();
    const { key } = await apiKey(owner);
    const probe = async () => Promise.all([key, owner.accessToken].map((token) => viaTwo({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token })));
    expect((await probe()).map((r) => r.statusCode)).toEqual([200, 200]);
    await one.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { status: 'suspended' } });
    const { value, attempts } = await flipsWithin(probe, (rs) => rs.every((r) => r.statusCode === 403));
    expect(value.map((r) => r.json().error.code)).toEqual(['TENANT_SUSPENDED', 'TENANT_SUSPENDED']);
    expect(attempts).toBeLessThanOrEqual(maxAttempts);
    await one.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { status: 'active' } });
    expect((await flipsWithin(probe, (rs) => rs.every((r) => r.statusCode === 200))).value.map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it('role change and member removal', async () => {
    const owner = await one.signup();
    const admin = await one.signup();
    const tenantId = await createTeam(one, owner, [[admin, 'admin']]);
    const probe = () => viaTwo({ method: 'GET', url: `/v1/tenants/${tenantId}/invitations`, token: admin.accessToken });
    expect((await probe()).statusCode).toBe(200);
    await one.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${admin.userId}`, token: owner.accessToken, payload: { role: 'member' } });
    const demoted = await flipsWithin(probe, (r) => r.statusCode === 403);
    expect(demoted.value.json().error.code).toBe('FORBIDDEN');
    expect(demoted.attempts).toBeLessThanOrEqual(maxAttempts);
    await one.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/members/${admin.userId}`, token: owner.accessToken });
    const gone = await flipsWithin(() => viaTwo({ method: 'GET', url: `/v1/tenants/${tenantId}`, token: admin.accessToken }), (r) => r.statusCode === 404);
    expect(gone.value.json().error.code).toBe('TENANT_NOT_FOUND');
  });

  it('user deactivation, with the JWT already verified and cached', async () => {
    const user = await one.signup();
    const probe = () => viaTwo({ method: 'GET', url: '/v1/me', token: user.accessToken });
    expect((await probe()).statusCode).toBe(200);
    await one.request({ method: 'PATCH', url: `/v1/admin/users/${user.userId}`, token: op.accessToken, payload: { status: 'deactivated' } });
    const { value, attempts } = await flipsWithin(probe, (r) => r.statusCode === 403);
    expect(value.json().error.code).toBe('USER_DEACTIVATED');
    expect(attempts).toBeLessThanOrEqual(maxAttempts);
  });
});

describe.skipIf(!onPostgres)('with a second real server process (tsx src/main.ts serve)', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServerProcess(one.db.url!, { TOLLGATE_DB_POOL_SIZE: '3' });
  });

  afterAll(async () => {
    await server.close();
  });

  it('revocation and suspension made in this process are refused by the other on its next request', async () => {
    const owner = await one.signup();
    const first = await apiKey(owner);
    const second = await apiKey(owner);
    const probe = (key: string) => fetch(`${server.url}/v1/tenants/${owner.tenantId}`, { headers: { authorization: `Bearer ${key}` } });
    expect((await probe(first.key)).status).toBe(200);
    expect((await probe(second.key)).status).toBe(200);
    await one.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${first.id}`, token: owner.accessToken });
    const revoked = await flipsWithin(() => probe(first.key), (r) => r.status === 401);
    expect([revoked.value.status, revoked.attempts]).toEqual([401, 1]);
    await one.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { status: 'suspended' } });
    const suspended = await flipsWithin(() => probe(second.key), (r) => r.status === 403);
    expect(suspended.attempts).toBe(1);
    expect(((await suspended.value.json()) as { error: { code: string } }).error.code).toBe('TENANT_SUSPENDED');
  });
});
