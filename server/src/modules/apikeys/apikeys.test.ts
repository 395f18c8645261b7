import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_TTL_MS } from '../../deps.js';
import { isErrorCode } from '../../error-catalog.js';
import { sha256Hex } from '../../lib/secrets.js';
import { generateKey } from './format.js';
import { countQueries as countQueriesOf, createTeam, snapshot, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';

const logLines: string[] = [];
const logStream = new Writable({ write(chunk, _encoding, done) { logLines.push(String(chunk)); done(); } });

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ logger: pino({ level: 'trace' }, logStream) }); });
afterAll(async () => { await t.close(); });

async function createKey(owner: SignedUp, body: Record<string, unknown> = { name: 'backend', scopes: ['read'] }) {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; key: string; prefix: string; lastFour: string; scopes: string[]; status: string };
}

async function freshToken(user: SignedUp): Promise<string> {
  return (await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } })).json().accessToken;
}

const getTenant = (tenantId: string, token: string) => t.request({ method: 'GET', url: `/v1/tenants/${tenantId}`, token });

const countQueries = () => countQueriesOf(t);

describe('tenant API keys', () => {
  it('are shown once, listed by prefix and last four only, used, revoked and audited', async () => {
    const owner = await t.signup();
    const created = await createKey(owner, { name: 'backend', scopes: ['read', 'authorize'], rateLimit: { limit: 100, windowSeconds: 60 }, usageCap: 5000 });
    expect(created.key).toMatch(/^tg_[0-9A-Za-z]{38}$/);
    expect(created).toMatchObject({ prefix: created.key.slice(0, 7), lastFour: created.key.slice(-4), status: 'active', scopes: ['read', 'authorize'] });

    expect((await getTenant(owner.tenantId, created.key)).statusCode).toBe(200);
    const list = await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken });
    expect(list.json().apiKeys).toEqual([expect.objectContaining({
      id: created.id, prefix: created.prefix, lastFour: created.lastFour, rateLimit: { limit: 100, windowSeconds: 60 }, usageCap: 5000, createdBy: owner.userId,
    })]);
    expect(list.body).not.toContain(created.key);
    expect(list.body).not.toContain(created.key.slice(7, -4));
    expect(list.body).not.toContain(sha256Hex(created.key));

    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${created.id}`, token: owner.accessToken })).statusCode).toBe(204);
    const denied = await getTenant(owner.tenantId, created.key);
    expect(denied.statusCode).toBe(401);
    expect(denied.json().error.code).toBe('UNAUTHENTICATED');
    // revoking again changes nothing
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${created.id}`, token: owner.accessToken })).statusCode).toBe(204);

    const actions = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/audit`, token: owner.accessToken })).json().entries.map((e: { action: string }) => e.action);
    expect(actions.filter((a: string) => a.startsWith('api_key.')).sort()).toEqual(['api_key.create', 'api_key.revoke']);
  });

  it('never appear in the logs, nor their hash', async () => {
    const owner = await t.signup();
    const { key, id } = await createKey(owner);
    await getTenant(owner.tenantId, key);
    await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${id}`, token: owner.accessToken });
    await getTenant(owner.tenantId, key);
    await getTenant(owner.tenantId, `${key.slice(0, -1)}x`);
    const logs = logLines.join('');
    expect(logs).toContain('"status":401');
    expect(logs).not.toContain(key.slice(3, -6));
    expect(logs).not.toContain(sha256Hex(key));
  });

  it('a key whose checksum fails is refused without touching the database', async () => {
    const owner = await t.signup();
    const { key } = await createKey(owner);
    const tampered = key.slice(0, 10) + (key[10] === 'A' ? 'B' : 'A') + key.slice(11);
    const queries = countQueries();
    try {
      for (const bad of [tampered, `${key}x`, 'tg_short', `tgs_${key.slice(3)}`]) {
        const res = await getTenant(owner.tenantId, bad);
        expect(res.statusCode).toBe(401);
        expect(res.json().error.code).toBe('UNAUTHENTICATED');
      }
      expect(queries.count()).toBe(0);
      // the counter does see a real lookup
      t.deps.changes.forget({ kind: 'all' });
      expect((await getTenant(owner.tenantId, key)).statusCode).toBe(200);
      expect(queries.count()).toBeGreaterThan(0);
    } finally {
      queries.restore();
    }
  });

  it('a well-formed key no tenant has is looked up once, then refused without the database until the cache\'s time to live', async () => {
    const owner = await t.signup();
    const stranger = generateKey('tg'); // right checksum, never issued here (another deployment's, say)
    const queries = countQueries();
    try {
      expect((await getTenant(owner.tenantId, stranger)).statusCode).toBe(401);
      const first = queries.count();
      expect(first).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) expect((await getTenant(owner.tenantId, stranger)).json().error.code).toBe('UNAUTHENTICATED');
      expect(queries.count()).toBe(first);
      t.clock.advance(CACHE_TTL_MS);
      expect((await getTenant(owner.tenantId, stranger)).statusCode).toBe(401);
      expect(queries.count()).toBeGreaterThan(first);
    } finally {
      queries.restore();
    }
    // A real key beside it is unaffected.
    const { key } = await createKey(owner);
    expect((await getTenant(owner.tenantId, key)).statusCode).toBe(200);
  });

  it('once cached, resolving a key or a JWT and checking its tenant cost no database query', async () => {
    const owner = await t.signup();
    const { key } = await createKey(owner);
    const hotPath = async (bearer: string) => {
      const principal = await t.deps.resolveCredential(bearer);
      expect(await t.deps.tenancy.checkTenant(principal, owner.tenantId)).toMatchObject({ ok: true });
    };
    await hotPath(key);
    await hotPath(owner.accessToken);
    const queries = countQueries();
    try {
      for (let i = 0; i < 5; i++) {
        await hotPath(key);
        await hotPath(owner.accessToken);
      }
      expect(queries.count()).toBe(0);
    } finally {
      queries.restore();
    }
  });

  it('record lastUsedAt in batches, not per request', async () => {
    const owner = await t.signup();
    const { key, id } = await createKey(owner);
    await t.deps.keyUsage.flush();
    for (let i = 0; i < 3; i++) await getTenant(owner.tenantId, key);
    const [before] = await t.db.asOwner<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_keys WHERE id = $1', [id]);
    expect(before!.last_used_at).toBeNull();
    await t.deps.keyUsage.flush();
    const list = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken })).json();
    expect(list.apiKeys[0].lastUsedAt).toBe(t.clock.now().toISOString());
  });

  it('enforce scopes: authorize-only cannot read, read cannot manage, manage acts as an admin', async () => {
    const owner = await t.signup();
    const member = await t.signup();
    const tenantId = await createTeam(t, owner, [[member, 'member']]);
    const team = { ...owner, tenantId };
    const authorizeOnly = await createKey(team, { name: 'decisions' });
    expect(authorizeOnly.scopes).toEqual(['authorize']);
    const read = await createKey(team, { name: 'reader', scopes: ['read'] });
    const manage = await createKey(team, { name: 'admin', scopes: ['manage'] });

    const noRead = await getTenant(tenantId, authorizeOnly.key);
    expect(noRead.statusCode).toBe(403);
    expect(noRead.json().error.code).toBe('INSUFFICIENT_SCOPE');
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/members`, token: read.key })).statusCode).toBe(200);
    const readManages = await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/api-keys`, token: read.key, payload: { name: 'x' } });
    expect(readManages.json().error.code).toBe('INSUFFICIENT_SCOPE');
    expect((await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${member.userId}`, token: read.key, payload: { role: 'admin' } })).statusCode).toBe(403);

    const minted = await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/api-keys`, token: manage.key, payload: { name: 'by key' } });
    expect(minted.statusCode).toBe(201);
    expect(minted.json().createdBy).toBe(manage.id);
    expect((await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${member.userId}`, token: manage.key, payload: { role: 'admin' } })).statusCode).toBe(200);
    const toOwner = await t.request({ method: 'PATCH', url: `/v1/tenants/${tenantId}/members/${member.userId}`, token: manage.key, payload: { role: 'owner' } });
    expect(toOwner.json().error.code).toBe('ROLE_NOT_ALLOWED');
    const invite = await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: manage.key, payload: { email: 'x@example.com', role: 'member' } });
    expect(invite.statusCode).toBe(403);
    // a key is not a user
    expect((await t.request({ method: 'GET', url: '/v1/me', token: manage.key })).statusCode).toBe(403);
    // a key of one tenant sees no other tenant
    const otherTenant = await getTenant(owner.tenantId, read.key);
    expect(otherTenant.statusCode).toBe(404);
    expect(otherTenant.json().error.code).toBe('TENANT_NOT_FOUND');
  });

  it('expire with the clock', async () => {
    const owner = await t.signup();
    const { key } = await createKey(owner, { name: 'temp', scopes: ['read'], expiresAt: new Date(t.clock.now().getTime() + 3_600_000).toISOString() });
    expect((await getTenant(owner.tenantId, key)).statusCode).toBe(200);
    t.clock.advance(3_600_000);
    expect((await getTenant(owner.tenantId, key)).statusCode).toBe(401);
    const list = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: await freshToken(owner) })).json();
    expect(list.apiKeys[0].status).toBe('expired');
  });

  it('rotate: the successor works at once, the old key until its grace ends; a rotated key cannot rotate again', async () => {
    const owner = await t.signup();
    const old = await createKey(owner, { name: 'rot', scopes: ['read', 'authorize'], usageCap: 10 });
    const rotated = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys/${old.id}/rotate`, token: owner.accessToken, payload: { graceSeconds: 60 } });
    expect(rotated.statusCode, rotated.body).toBe(201);
    const successor = rotated.json();
    expect(successor).toMatchObject({ rotatedFrom: old.id, scopes: ['read', 'authorize'], usageCap: 10, name: 'rot', status: 'active' });
    expect(successor.key).not.toBe(old.key);
    expect((await getTenant(owner.tenantId, old.key)).statusCode).toBe(200);
    expect((await getTenant(owner.tenantId, successor.key)).statusCode).toBe(200);
    const again = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys/${old.id}/rotate`, token: owner.accessToken, payload: {} });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json().error.code).toBe('API_KEY_NOT_ACTIVE');
    t.clock.advance(60_000);
    expect((await getTenant(owner.tenantId, old.key)).statusCode).toBe(401);
    expect((await getTenant(owner.tenantId, successor.key)).statusCode).toBe(200);
    // no body: the default grace
    const third = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys/${successor.id}/rotate`, token: owner.accessToken });
    expect(third.statusCode).toBe(201);
    expect(third.json().rotatedFrom).toBe(successor.id);
    const audit = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/audit?action=api_key.rotate`, token: owner.accessToken })).json();
    expect(audit.entries).toHaveLength(2);
  });

  it('a rotated key shares its usage cap and its rate bucket with the key it replaced: a rotation is no fresh budget', async () => {
    const owner = await t.signup();
    const old = await createKey(owner, { name: 'budget', scopes: ['authorize', 'read'], usageCap: 2, rateLimit: { limit: 4, windowSeconds: 60 } });
    const run = async (key: string) => {
      const answer = (await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).json();
      if (answer.reservation) await t.request({ method: 'POST', url: `/v1/reservations/${answer.reservation.id}/release`, token: owner.accessToken });
      return answer.code as string;
    };
    expect([await run(old.key), await run(old.key)]).toEqual(['OK', 'OK']);
    const successor = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys/${old.id}/rotate`, token: owner.accessToken, payload: { graceSeconds: 60 } })).json();
    // The cap is spent: neither the successor nor the old key in its grace runs again this period.
    expect([await run(successor.key), await run(old.key)]).toEqual(['LIMIT_EXCEEDED', 'LIMIT_EXCEEDED']);
    // Four calls a minute between them: the old key's three and the successor's one are its four.
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}`, token: successor.key })).statusCode).toBe(429);
  });

  it('belong to the tenant: they outlive the membership of whoever created them', async () => {
    const owner = await t.signup();
    const admin = await t.signup();
    const tenantId = await createTeam(t, owner, [[admin, 'admin']]);
    const { key } = await createKey({ ...admin, tenantId });
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/members/${admin.userId}`, token: owner.accessToken })).statusCode).toBe(204);
    expect((await getTenant(tenantId, key)).statusCode).toBe(200);
  });
});

describe('key routes across tenants and roles', () => {
  it('a member of another tenant gets the same 404 as for a missing object, and nothing changes', async () => {
    const a = await t.signup();
    const b = await t.signup();
    const keyA = await createKey(a);
    const missingTenant = 'tnt_00000000000000000000000000';
    const missingKey = 'key_00000000000000000000000000';
    // createKey used the key; write its buffered lastUsedAt now so the timer cannot land mid-test
    await t.deps.keyUsage.flush();
    const before = await snapshot(t.db);
    const pairs: [string, string, string, unknown?][] = [
      ['POST', `/v1/tenants/${a.tenantId}/api-keys`, `/v1/tenants/${missingTenant}/api-keys`, { name: 'x' }],
      ['GET', `/v1/tenants/${a.tenantId}/api-keys`, `/v1/tenants/${missingTenant}/api-keys`],
      ['DELETE', `/v1/tenants/${a.tenantId}/api-keys/${keyA.id}`, `/v1/tenants/${missingTenant}/api-keys/${keyA.id}`],
      ['POST', `/v1/tenants/${a.tenantId}/api-keys/${keyA.id}/rotate`, `/v1/tenants/${missingTenant}/api-keys/${keyA.id}/rotate`, {}],
      // B's own tenant, A's key id: the same as a key that does not exist
      ['DELETE', `/v1/tenants/${b.tenantId}/api-keys/${keyA.id}`, `/v1/tenants/${b.tenantId}/api-keys/${missingKey}`],
      ['POST', `/v1/tenants/${b.tenantId}/api-keys/${keyA.id}/rotate`, `/v1/tenants/${b.tenantId}/api-keys/${missingKey}/rotate`, {}],
    ];
    for (const [method, foreign, missing, payload] of pairs) {
      const x = await t.request({ method: method as 'GET', url: foreign, token: b.accessToken, ...(payload ? { payload } : {}) });
      const y = await t.request({ method: method as 'GET', url: missing, token: b.accessToken, ...(payload ? { payload } : {}) });
      expect(x.statusCode, `${method} ${foreign}`).toBe(404);
      expect({ status: x.statusCode, code: x.json().error.code }).toEqual({ status: y.statusCode, code: y.json().error.code });
    }
    expect(await snapshot(t.db)).toEqual(before);
    expect((await getTenant(a.tenantId, keyA.key)).statusCode).toBe(200);
  });

  it('members who are not admins get 403 on every key route, and nothing changes', async () => {
    const owner = await t.signup();
    const member = await t.signup();
    const tenantId = await createTeam(t, owner, [[member, 'member']]);
    const key = await createKey({ ...owner, tenantId });
    const before = await snapshot(t.db);
    for (const [method, url, payload] of [
      ['POST', `/v1/tenants/${tenantId}/api-keys`, { name: 'x' }],
      ['GET', `/v1/tenants/${tenantId}/api-keys`],
      ['DELETE', `/v1/tenants/${tenantId}/api-keys/${key.id}`],
      ['POST', `/v1/tenants/${tenantId}/api-keys/${key.id}/rotate`, {}],
    ] as const) {
      const res = await t.request({ method, url, token: member.accessToken, ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
    }
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('bad input gets a 4xx with a catalog code, never a 500, and writes nothing', async () => {
    const owner = await t.signup();
    const key = await createKey(owner);
    const base = `/v1/tenants/${owner.tenantId}/api-keys`;
    const before = await snapshot(t.db);
    const cases: { method: 'POST' | 'GET' | 'DELETE'; url: string; payload?: unknown; headers?: Record<string, string>; code: string }[] = [
      { method: 'POST', url: base, payload: { name: 'x', extra: true }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: {}, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: '' }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x'.repeat(101) }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', scopes: ['root'] }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', scopes: [] }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', scopes: ['read', 'read'] }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', scopes: 'read' }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', expiresAt: 'tomorrow' }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', expiresAt: '2001-01-01T00:00:00Z' }, code: 'INVALID_EXPIRY' },
      { method: 'POST', url: base, payload: { name: 'x', rateLimit: { limit: 0, windowSeconds: 60 } }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', rateLimit: { limit: 10 } }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', rateLimit: { limit: 10, windowSeconds: 60, burst: 1 } }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', usageCap: -1 }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', usageCap: '5' }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: { name: 'x', usageCap: 1.5 }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: base, payload: '{"name":', headers: { 'content-type': 'application/json' }, code: 'MALFORMED_JSON' },
      { method: 'POST', url: base, payload: 'name=x', headers: { 'content-type': 'text/plain' }, code: 'UNSUPPORTED_MEDIA_TYPE' },
      { method: 'POST', url: base, payload: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, code: 'UNSUPPORTED_MEDIA_TYPE' },
      { method: 'DELETE', url: `${base}/not-a-key`, code: 'VALIDATION_FAILED' },
      { method: 'DELETE', url: `${base}/svc_00000000000000000000000000`, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: `${base}/${key.id}/rotate`, payload: { graceSeconds: -1 }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: `${base}/${key.id}/rotate`, payload: { graceSeconds: 10 ** 9 }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: `${base}/${key.id}/rotate`, payload: { graceSeconds: 5, other: 1 }, code: 'VALIDATION_FAILED' },
      { method: 'POST', url: `${base}/${key.id}/rotate`, payload: [], code: 'VALIDATION_FAILED' },
      { method: 'GET', url: base, headers: { 'tollgate-on-behalf-of': 'garbage' }, code: 'ON_BEHALF_OF_FORBIDDEN' },
      { method: 'POST', url: '/v1/admin/service-keys', payload: { name: 'x' }, code: 'FORBIDDEN' },
    ];
    for (const c of cases) {
      const res = await t.request({ method: c.method, url: c.url, token: owner.accessToken, headers: c.headers, ...(c.payload !== undefined ? { payload: c.payload as string } : {}) });
      expect(res.statusCode, `${c.method} ${c.url} ${JSON.stringify(c.payload)}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      const code = res.json().error.code;
      expect(isErrorCode(code)).toBe(true);
      expect(code, `${c.method} ${c.url} ${JSON.stringify(c.payload)}`).toBe(c.code);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('service keys', () => {
  it('operators create, list (without the key) and revoke them; others may not', async () => {
    const op = await t.operator();
    const user = await t.signup();
    const created = await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: op.accessToken, payload: { name: 'app backend' } });
    expect(created.statusCode).toBe(201);
    const { key, id } = created.json();
    expect(key).toMatch(/^tgs_[0-9A-Za-z]{38}$/);
    expect(id).toMatch(/^svc_/);
    const list = await t.request({ method: 'GET', url: '/v1/admin/service-keys', token: op.accessToken });
    expect(list.json().serviceKeys.map((k: { id: string }) => k.id)).toContain(id);
    expect(list.body).not.toContain(key);
    expect(list.body).not.toContain(sha256Hex(key));
    for (const [method, url] of [['GET', '/v1/admin/service-keys'], ['DELETE', `/v1/admin/service-keys/${id}`]] as const) {
      expect((await t.request({ method, url, token: user.accessToken })).statusCode).toBe(403);
      expect((await t.request({ method, url, token: key })).statusCode).toBe(403);
    }
    expect((await t.request({ method: 'DELETE', url: '/v1/admin/service-keys/svc_00000000000000000000000000', token: op.accessToken })).json().error.code).toBe('SERVICE_KEY_NOT_FOUND');
    // a service key alone is no user and has no tenant
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${user.tenantId}`, token: key })).json().error.code).toBe('ON_BEHALF_OF_REQUIRED');
    expect((await t.request({ method: 'GET', url: '/v1/me', token: key })).statusCode).toBe(403);
    expect((await t.request({ method: 'DELETE', url: `/v1/admin/service-keys/${id}`, token: op.accessToken })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/v1/me', token: key })).statusCode).toBe(401);
    const audit = await t.db.asOwner<{ action: string }>('SELECT action FROM audit_log WHERE target_id = $1 ORDER BY created_at, action', [id]);
    expect(audit.map((a) => a.action)).toEqual(['service_key.create', 'service_key.revoke']);
  });
});
