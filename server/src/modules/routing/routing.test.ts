import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../lib/logger.js';
import pino from 'pino';
import { createDeps } from '../../deps.js';
import { MemoryMailer } from '../../lib/mailer.js';
import { Sealer } from '../../lib/secrets.js';
import { PLATFORM_AWS, enterpriseTenant as onEnterprise, sentExternalId, startBedrockApp, type BedrockApp, type EnterpriseTenant } from '../../../test/bedrock.js';
import { TEST_SECRET, startSecondInstance, testConfig, type SignedUp, type TestApp } from '../../../test/harness.js';
import type { FakeSts } from '../../../test/sts.js';

/** The role of the tenant made last (enterpriseTenant), and a second one: a role is one tenant's. */
let ROLE = 'arn:aws:iam::123456789012:role/tollgate-bedrock';
let ROLE_B = '';
let roles = 0;
const EXTERNAL_ID = 'ext-id-of-tenant-7f3a9c21';
const OPENAI_KEY = 'sk-proj-tenant-own-openai-key-9d8e7f6a';

let world: BedrockApp;
let t: TestApp;
let sts: FakeSts;
const logLines: string[] = [];

beforeAll(async () => {
  world = await startBedrockApp({ logger: createLogger('trace', { write: (line: string) => { logLines.push(line); } }) });
  ({ t, sts } = world);
});
afterAll(async () => { await world?.close(); });

const put = (token: string, tenantId: string, name: string, payload: Record<string, unknown>) => {
  t.clock.advance(1); // each change its own millisecond: audit entries sort in the order made
  return t.request({ method: 'PUT', url: `/v1/tenants/${tenantId}/routes/${name}`, token, payload });
};
const bedrock = (overrides: Record<string, unknown> = {}) => ({ provider: 'bedrock', region: 'eu-central-1', roleArn: ROLE, externalId: EXTERNAL_ID, models: ['bedrock/*'], ...overrides });
let op: SignedUp;
const authorize = (key: string, payload: Record<string, unknown>) => t.request({ method: 'POST', url: '/v1/authorize', token: key, payload });
const credentials = (token: string, decisionId: string) => t.request({ method: 'POST', url: '/v1/routes/credentials', token, payload: { decisionId } });

/** A tenant on the enterprise plan (own providers allowed), with an API key for decisions and credentials; `op` an operator signed in now, ROLE its role. */
async function enterpriseTenant(): Promise<EnterpriseTenant> {
  const tenant = await onEnterprise(t);
  op = tenant.operator;
  ROLE = `arn:aws:iam::123456789012:role/tollgate-bedrock-${++roles}`;
  ROLE_B = `${ROLE}-b`;
  return tenant;
}

describe('provider routes', () => {
  it('are refused where the plan does not allow own providers, and nothing is written', async () => {
    const catalog = (await t.request({ method: 'GET', url: '/v1/plans' })).json().plans as { id: string; byoProvider: boolean }[];
    expect(Object.fromEntries(catalog.map((p) => [p.id, p.byoProvider]))).toEqual({ free: false, pro: false, enterprise: true });
    const owner = await t.signup();
    const res = await put(owner.accessToken, owner.tenantId, 'aws', bedrock());
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('NOT_IN_PLAN');
    expect(await t.db.asOwner('SELECT * FROM tenant_routes WHERE tenant_id = $1', [owner.tenantId])).toEqual([]);
  });

  it('are created, listed, replaced and deleted by owners, admins and operators, each change audited, never showing a secret', async () => {
    const { owner, tenantId } = await enterpriseTenant();
    const created = await put(owner.accessToken, tenantId, 'aws-main', bedrock());
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ name: 'aws-main', provider: 'bedrock', region: 'eu-central-1', roleArn: ROLE, models: ['bedrock/*'], enabled: true, secretLastFour: '9c21', baseUrl: null });
    const key = await put(owner.accessToken, tenantId, 'openai', { provider: 'openai', apiKey: OPENAI_KEY, baseUrl: 'https://llm-proxy.example.com/v1/' });
    expect(key.statusCode, key.body).toBe(201);
    expect(key.json()).toMatchObject({ provider: 'openai', baseUrl: 'https://llm-proxy.example.com/v1', models: ['*'], secretLastFour: '7f6a', region: null, roleArn: null });
    const replaced = await put(owner.accessToken, tenantId, 'aws-main', bedrock({ enabled: false }));
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json().enabled).toBe(false);
    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/routes`, token: owner.accessToken });
    expect(listed.json().routes.map((r: { name: string }) => r.name)).toEqual(['aws-main', 'openai']);
    expect(listed.body).not.toContain(EXTERNAL_ID);
    expect(listed.body).not.toContain(OPENAI_KEY);
    const byOperator = await t.request({ method: 'GET', url: `/v1/admin/tenants/${tenantId}/routes`, token: op.accessToken });
    expect(byOperator.json()).toEqual(listed.json());
    t.clock.advance(1);
    expect((await t.request({ method: 'DELETE', url: `/v1/admin/tenants/${tenantId}/routes/openai`, token: op.accessToken })).statusCode).toBe(204);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/routes/openai`, token: owner.accessToken })).json().error.code).toBe('ROUTE_NOT_FOUND');
    const audit = await t.db.asOwner<{ action: string; actor_type: string; data: Record<string, unknown> }>(
      `SELECT action, actor_type, data FROM audit_log WHERE tenant_id = $1 AND action LIKE 'route.%' ORDER BY id`, [tenantId]);
    expect(audit.map((a) => [a.action, a.actor_type])).toEqual([['route.create', 'user'], ['route.create', 'user'], ['route.update', 'user'], ['route.delete', 'operator']]);
    expect(audit[2]!.data).toMatchObject({ enabled: false, secretChanged: false, secretLastFour: '9c21', roleArn: ROLE });
    expect(JSON.stringify(audit)).not.toContain(EXTERNAL_ID);
    expect(JSON.stringify(audit)).not.toContain(OPENAI_KEY);
  });

  it('show the last four characters of a secret of 16 or more, and nothing of a shorter one (four would be most or all of it)', async () => {
    const { owner, tenantId } = await enterpriseTenant();
    const shown: Record<string, [string, string | null]> = { tiny: ['ab12', null], fifteen: ['ext-id-15-chars', null], sixteen: ['external-id-16ch', '16ch'] };
    for (const [name, [externalId, lastFour]] of Object.entries(shown)) {
      const res = await put(owner.accessToken, tenantId, name, bedrock({ externalId }));
      expect([res.statusCode, res.json().secretLastFour], name).toEqual([201, lastFour]);
    }
    const listed = (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/routes`, token: owner.accessToken })).json().routes as { name: string; secretLastFour: unknown }[];
    expect(Object.fromEntries(listed.map((r) => [r.name, r.secretLastFour]))).toEqual({ tiny: null, fifteen: null, sixteen: '16ch' });
    const audit = await t.db.asOwner<{ target_id: string; data: { secretLastFour: unknown } }>(
      `SELECT target_id, data FROM audit_log WHERE tenant_id = $1 AND action = 'route.create'`, [tenantId]);
    expect(Object.fromEntries(audit.map((a) => [a.target_id, a.data.secretLastFour]))).toEqual({ tiny: null, fifteen: null, sixteen: '16ch' });
    const stored = await t.db.asOwner<{ name: string; secret_last_four: unknown }>('SELECT name, secret_last_four FROM tenant_routes WHERE tenant_id = $1', [tenantId]);
    expect(Object.fromEntries(stored.map((r) => [r.name, r.secret_last_four]))).toEqual({ tiny: null, fifteen: null, sixteen: '16ch' });
  });

  it('concurrent PUTs of one new route each answer 201 or 200 (a PUT is create-or-replace): one creates it, the others replace it', async () => {
    const { owner, tenantId } = await enterpriseTenant();
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}`;
      // On PostgreSQL each PUT is its own connection: without a lock taken before the read, all find no row and all insert.
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => put(owner.accessToken, tenantId, name, bedrock({ externalId: `ext-id-${round}-${i}` }))));
      expect(answers.map((a) => a.statusCode).sort(), answers.map((a) => a.body).join('\n')).toEqual([200, 200, 200, 200, 200, 201]);
      t.clock.advance(1);
      const removals = await Promise.all(Array.from({ length: 3 }, () => t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/routes/${name}`, token: owner.accessToken })));
      expect(removals.map((r) => r.statusCode).sort()).toEqual([204, 404, 404]);
    }
    const audit = await t.db.asOwner<{ action: string; n: number }>(
      `SELECT action, count(*)::int AS n FROM audit_log WHERE tenant_id = $1 AND action LIKE 'route.%' GROUP BY action ORDER BY action`, [tenantId]);
    expect(audit).toEqual([{ action: 'route.create', n: 5 }, { action: 'route.delete', n: 5 }, { action: 'route.update', n: 25 }]);
  });

  it('are at most routing.maxRoutesPerTenant (50) a tenant: a new one past it is 409 ROUTE_LIMIT_REACHED and writes nothing; concurrent creates admit exactly the cap; a replacement passes', async () => {
    const { owner, tenantId } = await enterpriseTenant();
    const openai = { provider: 'openai', apiKey: OPENAI_KEY };
    for (let i = 0; i < 47; i++) expect((await put(owner.accessToken, tenantId, `r${i}`, openai)).statusCode).toBe(201);
    const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => put(owner.accessToken, tenantId, `race${i}`, openai)));
    expect(racing.map((r) => r.statusCode).sort()).toEqual([201, 201, 201, 409, 409, 409]);
    expect(new Set(racing.filter((r) => r.statusCode === 409).map((r) => r.json().error.code))).toEqual(new Set(['ROUTE_LIMIT_REACHED']));
    const count = async () => (await t.db.asOwner<{ n: number }>('SELECT count(*)::int AS n FROM tenant_routes WHERE tenant_id = $1', [tenantId]))[0]!.n;
    const creations = async () => (await t.db.asOwner<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = $1 AND action = 'route.create'`, [tenantId]))[0]!.n;
    expect([await count(), await creations()]).toEqual([50, 50]);
    const past = await t.request({ method: 'PUT', url: `/v1/admin/tenants/${tenantId}/routes/one-more`, token: op.accessToken, payload: bedrock() });
    expect([past.statusCode, past.json().error.code]).toEqual([409, 'ROUTE_LIMIT_REACHED']);
    expect(await t.db.asOwner('SELECT * FROM tenant_routes WHERE tenant_id = $1 AND name = $2', [tenantId, 'one-more'])).toEqual([]);
    expect((await put(owner.accessToken, tenantId, 'r0', { ...openai, enabled: false })).statusCode).toBe(200);
    t.clock.advance(1);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/routes/r1`, token: owner.accessToken })).statusCode).toBe(204);
    expect((await put(owner.accessToken, tenantId, 'one-more', bedrock())).statusCode).toBe(201);
    expect([await count(), await creations()]).toEqual([50, 51]);
    // Another tenant's routes are its own.
    const other = await enterpriseTenant();
    expect((await put(other.owner.accessToken, other.tenantId, 'r0', openai)).statusCode).toBe(201);
  });

  it('are for owners and admins: a member is refused, another tenant\'s owner gets the 404 of a missing tenant', async () => {
    const { owner, tenantId } = await enterpriseTenant();
    const member = await t.signup();
    const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: owner.accessToken, payload: { email: member.email, role: 'member' } })).json();
    await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: member.accessToken });
    expect((await put(member.accessToken, tenantId, 'aws', bedrock())).statusCode).toBe(403);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/routes`, token: member.accessToken })).statusCode).toBe(403);
    const outsider = await enterpriseTenant();
    const res = await put(outsider.owner.accessToken, tenantId, 'aws', bedrock());
    expect(res.statusCode).toBe(404);
    expect(await t.db.asOwner('SELECT * FROM tenant_routes WHERE tenant_id = $1', [tenantId])).toEqual([]);
  });

  it('refuse what cannot be used: a base URL that is not https or names a private, loopback or internal host; a bad ARN, region, glob or name', async () => {
    const { owner, tenantId } = await enterpriseTenant();
    const key = { provider: 'anthropic', apiKey: 'sk-ant-0123456789' };
    for (const baseUrl of ['https://127.0.0.1/v1', 'https://169.254.169.254/latest', 'https://[::1]/', 'https://localhost:8443', 'https://2130706433/',
      'https://metadata.google.internal/', 'https://user:pw@api.example.com/', 'https://intranet/', 'https://api.example.com/?key=1',
      // An empty label: one trailing dot is the root's, a second hides the internal name behind it.
      'https://localhost../v1', 'https://metadata.google.internal../', 'https://intranet../', 'https://api..example.com/', 'https://.example.com/',
      // An empty query or fragment is no query to URL, but would be kept with the base URL.
      'https://api.example.com/v1?', 'https://api.example.com/v1#', 'https://api.example.com/v1?#']) {
      const res = await put(owner.accessToken, tenantId, 'k', { ...key, baseUrl });
      expect([res.statusCode, res.json().error.code], baseUrl).toEqual([400, 'ROUTE_INVALID']);
    }
    for (const [field, value] of [['baseUrl', 'http://api.example.com'], ['roleArn', 'arn:aws:iam::12345:role/x'], ['roleArn', 'arn:aws:iam::123456789012:user/x'],
      ['region', 'mars-1'], ['region', 'us-east-1; rm'], ['externalId', 'x'], ['models', ['bedrock/*', 'has space']], ['models', []], ['apiKey', 'short']] as const) {
      const body = field === 'baseUrl' || field === 'apiKey' ? { ...key, [field]: value } : bedrock({ [field]: value });
      const res = await put(owner.accessToken, tenantId, 'k', body);
      expect([res.statusCode, res.json().error.code], `${field}=${JSON.stringify(value)}`).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await put(owner.accessToken, tenantId, 'Bad_Name', bedrock())).statusCode).toBe(400);
    expect((await put(owner.accessToken, tenantId, 'k', { provider: 'bedrock', apiKey: 'sk-ant-0123456789' })).statusCode).toBe(400);
    expect(await t.db.asOwner('SELECT * FROM tenant_routes WHERE tenant_id = $1', [tenantId])).toEqual([]);
  });
});

describe('the decision names the route', () => {
  it('the first enabled route whose globs match the model, else the platform\'s; a change is seen by the next decision; replays carry it', async () => {
    const { owner, tenantId, key } = await enterpriseTenant();
    expect((await authorize(key, { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: { inputTokens: 1000, outputTokens: 1000 } })).json().route)
      .toEqual({ provider: 'default', name: 'platform', region: null, billing: 'platform' });
    await put(owner.accessToken, tenantId, 'aws-main', bedrock());
    await put(owner.accessToken, tenantId, 'everything', { provider: 'anthropic', apiKey: 'sk-ant-0123456789' });
    const first = await authorize(key, { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: { inputTokens: 1000, outputTokens: 1000 }, idempotencyKey: 'r-1' });
    expect(first.json().route).toEqual({ provider: 'bedrock', name: 'aws-main', region: 'eu-central-1', billing: 'tenant', revision: expect.any(String) });
    expect((await authorize(key, { operation: 'chat', model: 'openai/gpt-4o', quantity: { inputTokens: 10 } })).json().route)
      .toEqual({ provider: 'anthropic', name: 'everything', region: null, billing: 'tenant', revision: expect.any(String) });
    // Disabled: the next route that matches takes the call, at once.
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ enabled: false }));
    expect((await authorize(key, { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: { inputTokens: 10 } })).json().route.name).toBe('everything');
    const replay = await authorize(key, { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: { inputTokens: 1000, outputTokens: 1000 }, idempotencyKey: 'r-1' });
    expect(replay.json()).toMatchObject({ replayed: true, decisionId: first.json().decisionId, route: first.json().route });
    // In-process answers name it the same way.
    const principal = await t.deps.resolveCredential(key);
    expect((await t.deps.gate.authorize(principal, { operation: 'chat', model: 'openai/x', quantity: { inputTokens: 1 } })).route.name).toBe('everything');
  });

  it('a route changed through one process is named by another process\'s very next decision', async () => {
    const { owner, tenantId, key } = await enterpriseTenant();
    const other = await startSecondInstance(t);
    try {
      const decideThere = async () => (await other.app.inject({ method: 'POST', url: '/v1/authorize', headers: { authorization: `Bearer ${key}` }, payload: { operation: 'clustering', model: 'bedrock/claude-haiku' } })).json();
      expect((await decideThere()).route.billing).toBe('platform');
      const generation = async () => Number((await t.db.asOwner<{ generation: string }>('SELECT generation FROM tenants WHERE id = $1', [tenantId]))[0]!.generation);
      const before = await generation();
      await put(owner.accessToken, tenantId, 'aws-main', bedrock());
      // The change stamps the tenant (db/functions/stamps.sql): a snapshot read before it is stale everywhere.
      expect(await generation()).toBe(before + 1);
      expect((await decideThere()).route).toMatchObject({ name: 'aws-main', billing: 'tenant' });
      await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['openai/*'] }));
      expect((await decideThere()).route.billing).toBe('platform');
    } finally {
      await other.close();
    }
  });

  it('a tenant moved off a plan with own providers runs on the platform again', async () => {
    const { owner, tenantId, key } = await enterpriseTenant();
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'] }));
    expect((await authorize(key, { operation: 'clustering' })).json().route.billing).toBe('tenant');
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload: { plan: 'pro' } });
    expect((await authorize(key, { operation: 'clustering' })).json().route).toMatchObject({ name: 'platform', billing: 'platform' });
  });

  it('prices the call on the account it runs on: the preview, the reservation and the settlement', async () => {
    const { owner, tenantId, key } = await enterpriseTenant();
    const tokens = { inputTokens: 2000, outputTokens: 1000 }; // bedrock/*: 3 + 15 per 1k → 21 credits; own account: 1
    const platform = (await authorize(key, { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: tokens })).json();
    expect(platform.reservation.credits).toBe(21);
    await put(owner.accessToken, tenantId, 'aws-main', bedrock());
    const own = (await authorize(key, { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: tokens })).json();
    expect(own.route.billing).toBe('tenant');
    expect(own.reservation.credits).toBe(1);
    const settled = await t.request({ method: 'POST', url: `/v1/reservations/${own.reservation.id}/settle`, token: key, payload: { quantity: tokens } });
    expect(settled.json().reservation.charged).toBe(1);
    const settledPlatform = await t.request({ method: 'POST', url: `/v1/reservations/${platform.reservation.id}/settle`, token: key, payload: { quantity: { inputTokens: 1000, outputTokens: 0 } } });
    expect(settledPlatform.json().reservation.charged).toBe(3);
    const preview = await t.request({ method: 'POST', url: '/v1/costs/preview', token: owner.accessToken, headers: { 'tollgate-tenant': tenantId }, payload: { operation: 'chat', model: 'bedrock/claude-sonnet', quantity: tokens } });
    expect(preview.json()).toMatchObject({ credits: 1, billing: 'tenant', route: { name: 'aws-main' } });
    const previewPlatform = await t.request({ method: 'POST', url: '/v1/costs/preview', token: owner.accessToken, headers: { 'tollgate-tenant': tenantId }, payload: { operation: 'chat', model: 'openai/gpt-4o', quantity: tokens } });
    expect(previewPlatform.json()).toMatchObject({ credits: 15, billing: 'platform' });
  });
});

describe('POST /v1/routes/credentials', () => {
  it('assumes the route\'s role through STS with its external ID, signed with the platform\'s credentials; cached until shortly before expiry', async () => {
    const tenant = await enterpriseTenant();
    const { owner, tenantId, key } = tenant;
    sts.roles.set(ROLE, sentExternalId(tenant, EXTERNAL_ID));
    await put(owner.accessToken, tenantId, 'aws-main', bedrock());
    const decision = (await authorize(key, { operation: 'clustering', model: 'bedrock/claude-haiku' })).json();
    const before = sts.calls.length;
    const res = await credentials(key, decision.decisionId);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ provider: 'bedrock', region: 'eu-central-1', route: 'aws-main' });
    expect(body.credentials).toEqual({
      accessKeyId: expect.stringMatching(/^ASIA/), secretAccessKey: expect.any(String), sessionToken: expect.any(String),
      expiration: new Date(Math.floor(t.clock.now().getTime() / 1000) * 1000 + 3600_000).toISOString(),
    });
    expect(sts.calls.slice(before)).toEqual([{
      roleArn: ROLE, externalId: sentExternalId(tenant, EXTERNAL_ID), sessionName: `tollgate-${tenantId}`, durationSeconds: 3600,
      signedBy: PLATFORM_AWS.AWS_ACCESS_KEY_ID, signatureValid: true, region: 'eu-central-1',
    }]);
    // Cached: the same credentials, no STS call, until 5 minutes before they expire.
    t.clock.advance(3600_000 - 301_000);
    const cached = await credentials(key, (await authorize(key, { operation: 'clustering', model: 'bedrock/claude-haiku' })).json().decisionId);
    expect(cached.json().credentials, cached.body).toEqual(body.credentials);
    expect(sts.calls.length).toBe(before + 1);
    t.clock.advance(2_000);
    const refreshed = (await credentials(key, (await authorize(key, { operation: 'clustering', model: 'bedrock/claude-haiku' })).json().decisionId)).json();
    expect(refreshed.credentials.accessKeyId).not.toBe(body.credentials.accessKeyId);
    expect(sts.calls.length).toBe(before + 2);
    const audit = await t.db.asOwner<{ action: string; data: Record<string, unknown> }>(
      `SELECT action, data FROM audit_log WHERE tenant_id = $1 AND action LIKE 'route.credentials%' ORDER BY id`, [tenantId]);
    expect(audit.map((a) => a.action)).toEqual(['route.credentials_issued', 'route.credentials_issued']);
    expect(audit[0]!.data).toMatchObject({ roleArn: ROLE, sessionName: `tollgate-${tenantId}`, accessKeyId: body.credentials.accessKeyId });
    expect(JSON.stringify(audit)).not.toContain(body.credentials.secretAccessKey);
  });

  it('makes one STS call for many concurrent first requests', async () => {
    const tenant = await enterpriseTenant();
    const { owner, tenantId, key } = tenant;
    sts.roles.set(ROLE, sentExternalId(tenant, EXTERNAL_ID));
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'] }));
    const decisions = await Promise.all(Array.from({ length: 8 }, async () => (await authorize(key, { operation: 'clustering' })).json().decisionId as string));
    const before = sts.calls.length;
    let release!: () => void;
    sts.hold = new Promise((resolve) => { release = resolve; });
    const pending = Promise.all(decisions.map((id) => credentials(key, id)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    sts.hold = null;
    const answers = await pending;
    expect(answers.map((a) => a.statusCode)).toEqual(decisions.map(() => 200));
    expect(new Set(answers.map((a) => a.json().credentials.accessKeyId)).size).toBe(1);
    expect(sts.calls.length).toBe(before + 1);
  });

  /** Which role each access key id was issued for, as the tenant's audit log records it. */
  const issuedFor = async (tenantId: string) => Object.fromEntries((await t.db.asOwner<{ data: { accessKeyId: string; roleArn: string } }>(
    `SELECT data FROM audit_log WHERE tenant_id = $1 AND action = 'route.credentials_issued'`, [tenantId])).map((a) => [a.data.accessKeyId, a.data.roleArn]));

  it('a route deleted and created again through another process, with another role, gets that role\'s credentials here at once', async () => {
    const tenant = await enterpriseTenant();
    const { owner, tenantId, key } = tenant;
    sts.roles.set(ROLE, sentExternalId(tenant, EXTERNAL_ID));
    sts.roles.set(ROLE_B, sentExternalId(tenant, 'ext-id-of-role-b-0042'));
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'] }));
    const first = (await credentials(key, (await authorize(key, { operation: 'clustering' })).json().decisionId)).json();
    const other = await startSecondInstance(t);
    try {
      // Through the other process: this one's cache hears nothing of it, and the new route's version is 1 again.
      const auth = `Bearer ${owner.accessToken}`;
      expect((await other.app.inject({ method: 'DELETE', url: `/v1/tenants/${tenantId}/routes/aws-main`, headers: { authorization: auth } })).statusCode).toBe(204);
      const recreated = await other.app.inject({ method: 'PUT', url: `/v1/tenants/${tenantId}/routes/aws-main`, headers: { authorization: auth },
        payload: bedrock({ models: ['*'], roleArn: ROLE_B, externalId: 'ext-id-of-role-b-0042' }) });
      expect(recreated.statusCode, recreated.body).toBe(201);
    } finally {
      await other.close();
    }
    const calls = sts.calls.length;
    const second = await credentials(key, (await authorize(key, { operation: 'clustering' })).json().decisionId);
    expect(second.statusCode, second.body).toBe(200);
    expect(sts.calls.slice(calls).map((c) => [c.roleArn, c.externalId])).toEqual([[ROLE_B, sentExternalId(tenant, 'ext-id-of-role-b-0042')]]);
    const roles = await issuedFor(tenantId);
    expect([roles[first.credentials.accessKeyId], roles[second.json().credentials.accessKeyId]]).toEqual([ROLE, ROLE_B]);
  });

  it('a request after the route changed never joins an STS call still on its way for the route as it was, nor does that call, answering last, replace what is cached', async () => {
    const tenant = await enterpriseTenant();
    const { owner, tenantId, key } = tenant;
    sts.roles.set(ROLE, sentExternalId(tenant, EXTERNAL_ID));
    sts.roles.set(ROLE_B, sentExternalId(tenant, 'ext-id-of-role-b-0042'));
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'] }));
    const before = (await authorize(key, { operation: 'clustering' })).json().decisionId as string;
    const calls = sts.calls.length;
    const releases: (() => void)[] = [];
    const held = () => new Promise<void>((resolve) => { releases.push(resolve); });
    try {
      sts.hold = held();
      const pending = credentials(key, before);
      await vi.waitFor(() => expect(sts.calls.length).toBe(calls + 1));
      sts.hold = held();
      // Deleted and created again (version 1 again) while role A's call waits at STS.
      t.clock.advance(1);
      expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/routes/aws-main`, token: owner.accessToken })).statusCode).toBe(204);
      expect((await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'], roleArn: ROLE_B, externalId: 'ext-id-of-role-b-0042' }))).statusCode).toBe(201);
      const after = credentials(key, (await authorize(key, { operation: 'clustering' })).json().decisionId);
      await vi.waitFor(() => expect(sts.calls.length).toBe(calls + 2));
      sts.hold = null;
      // Role B's call answers first, role A's last.
      releases[1]!();
      const renewed = await after;
      releases[0]!();
      const old = await pending;
      expect([old.statusCode, renewed.statusCode], renewed.body).toEqual([200, 200]);
      expect(sts.calls.slice(calls).map((c) => c.roleArn)).toEqual([ROLE, ROLE_B]);
      const roles = await issuedFor(tenantId);
      expect([roles[old.json().credentials.accessKeyId], roles[renewed.json().credentials.accessKeyId]]).toEqual([ROLE, ROLE_B]);
    } finally {
      for (const release of releases) release();
      sts.hold = null;
    }
    // What is cached is still role B's: the next request is served from it.
    const cached = (await credentials(key, (await authorize(key, { operation: 'clustering' })).json().decisionId)).json();
    expect((await issuedFor(tenantId))[cached.credentials.accessKeyId]).toBe(ROLE_B);
    expect(sts.calls.length).toBe(calls + 2);
  });

  it('a refusal by STS is a 502 with the provider\'s reason, audited, never a 500; a rotated route is used at once', async () => {
    const tenant = await enterpriseTenant();
    const { owner, tenantId, key } = tenant;
    sts.roles.set(ROLE, sentExternalId(tenant, 'the-tenants-real-external-id'));
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'] }));
    const decisionId = (await authorize(key, { operation: 'clustering' })).json().decisionId as string;
    const refused = await credentials(key, decisionId);
    expect(refused.statusCode).toBe(502);
    expect(refused.json().error.code).toBe('PROVIDER_CREDENTIALS_FAILED');
    expect(refused.json().error.message).toMatch(/AccessDenied: User: .* is not authorized to perform: sts:AssumeRole/);
    expect(refused.body).not.toContain(EXTERNAL_ID);
    sts.refuseAll = { status: 400, code: 'Throttling', message: 'Rate exceeded' };
    t.clock.advance(1);
    const throttled = await credentials(key, decisionId);
    sts.refuseAll = null;
    expect([throttled.statusCode, throttled.json().error.code]).toEqual([502, 'PROVIDER_CREDENTIALS_FAILED']);
    expect(throttled.json().error.message).toMatch(/Throttling: Rate exceeded/);
    const audit = await t.db.asOwner<{ action: string; data: { reason: string } }>(
      `SELECT action, data FROM audit_log WHERE tenant_id = $1 AND action LIKE 'route.credentials%' ORDER BY id`, [tenantId]);
    expect(audit.map((a) => [a.action, a.data.reason])).toEqual([['route.credentials_failed', 'AccessDenied'], ['route.credentials_failed', 'Throttling']]);
    // The tenant fixes its external ID: the next request assumes the role with it.
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'], externalId: 'the-tenants-real-external-id' }));
    const fixed = await credentials(key, (await authorize(key, { operation: 'clustering' })).json().decisionId);
    expect(fixed.statusCode, fixed.body).toBe(200);
    // Rotation: a new role; cached credentials of the old one are never served again.
    const newRole = 'arn:aws:iam::123456789012:role/tollgate-bedrock-v2';
    sts.roles.set(newRole, sentExternalId(tenant, 'rotated-external-id'));
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'], roleArn: newRole, externalId: 'rotated-external-id' }));
    const calls = sts.calls.length;
    const rotated = await credentials(key, (await authorize(key, { operation: 'clustering' })).json().decisionId);
    expect(rotated.json().credentials.accessKeyId).not.toBe(fixed.json().credentials.accessKeyId);
    expect(sts.calls.slice(calls).map((c) => [c.roleArn, c.externalId])).toEqual([[newRole, sentExternalId(tenant, 'rotated-external-id')]]);
    // Disabled or deleted since the decision: nothing.
    const held = (await authorize(key, { operation: 'clustering' })).json().decisionId as string;
    await put(owner.accessToken, tenantId, 'aws-main', bedrock({ models: ['*'], roleArn: newRole, externalId: 'rotated-external-id', enabled: false }));
    expect((await credentials(key, held)).json().error.code).toBe('ROUTE_UNAVAILABLE');
    await t.request({ method: 'DELETE', url: `/v1/tenants/${tenantId}/routes/aws-main`, token: owner.accessToken });
    expect((await credentials(key, held)).json().error.code).toBe('ROUTE_UNAVAILABLE');
  });

  it('a key route answers its key; only a service key or an API key with the credentials scope of the decision\'s tenant gets anything', async () => {
    const { owner, tenantId, key } = await enterpriseTenant();
    await put(owner.accessToken, tenantId, 'openai', { provider: 'openai', apiKey: OPENAI_KEY, baseUrl: 'https://llm-proxy.example.com/v1' });
    const decision = (await authorize(key, { operation: 'chat', model: 'openai/gpt-4o', quantity: { inputTokens: 10 } })).json();
    expect((await credentials(key, decision.decisionId)).json()).toEqual({ provider: 'openai', route: 'openai', apiKey: OPENAI_KEY, baseUrl: 'https://llm-proxy.example.com/v1' });
    const serviceKey = (await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: op.accessToken, payload: { name: 'llm backend' } })).json() as { id: string; key: string };
    const service = serviceKey.key;
    expect((await credentials(service, decision.decisionId)).json().apiKey).toBe(OPENAI_KEY);
    // Without the scope; a user; another tenant's key; a decision that was denied; one on the platform's route; one settled.
    const plain = (await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'plain', scopes: ['authorize', 'manage'] } })).json().key as string;
    expect([(await credentials(plain, decision.decisionId)).statusCode, (await credentials(plain, decision.decisionId)).json().error.code]).toEqual([403, 'INSUFFICIENT_SCOPE']);
    expect((await credentials(owner.accessToken, decision.decisionId)).statusCode).toBe(403);
    const other = await enterpriseTenant();
    const intruder = await credentials(other.key, decision.decisionId);
    expect([intruder.statusCode, intruder.json().error.code]).toEqual([404, 'DECISION_NOT_FOUND']);
    await t.request({ method: 'PUT', url: `/v1/tenants/${tenantId}/modules/thinker`, token: owner.accessToken, payload: { enabled: false } });
    const denied = (await authorize(key, { operation: 'chat', model: 'openai/gpt-4o', quantity: { inputTokens: 10 } })).json();
    expect(denied).toMatchObject({ allowed: false, code: 'MODULE_DISABLED', route: { name: 'openai', billing: 'tenant' } });
    expect((await credentials(key, denied.decisionId)).json().error.code).toBe('DECISION_NOT_FOUND');
    const onPlatform = (await authorize(other.key, { operation: 'clustering' })).json();
    expect((await credentials(other.key, onPlatform.decisionId)).json().error.code).toBe('ROUTE_UNAVAILABLE');
    // A suspended tenant's decisions give nothing, to its keys or the platform's; a revoked service key, nothing either.
    const suspend = (status: string) => t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload: { status } });
    expect((await suspend('suspended')).statusCode).toBe(200);
    for (const token of [key, service]) {
      const refused = await credentials(token, decision.decisionId);
      expect([refused.statusCode, refused.json().error.code], refused.body).toEqual([403, 'TENANT_SUSPENDED']);
      expect(refused.body).not.toContain(OPENAI_KEY);
    }
    expect((await suspend('active')).statusCode).toBe(200);
    expect((await credentials(service, decision.decisionId)).json().apiKey).toBe(OPENAI_KEY);
    expect((await t.request({ method: 'DELETE', url: `/v1/admin/service-keys/${serviceKey.id}`, token: op.accessToken })).statusCode).toBe(204);
    expect((await credentials(service, decision.decisionId)).statusCode).toBe(401);
    await t.request({ method: 'POST', url: `/v1/reservations/${decision.reservation.id}/release`, token: key });
    expect((await credentials(key, decision.decisionId)).json().error.code).toBe('DECISION_NOT_ACTIVE');
  });

  it('a service key acting for a member (onBehalfOf in the body, as on /v1/authorize, or the header) gets its tenant\'s decisions only, as when it settles them', async () => {
    const { owner, tenantId, key } = await enterpriseTenant();
    await put(owner.accessToken, tenantId, 'openai', { provider: 'openai', apiKey: OPENAI_KEY });
    const service = (await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: op.accessToken, payload: { name: 'acting backend' } })).json().key as string;
    const acting = { tenantId, userId: owner.userId };
    const decision = (await authorize(service, { operation: 'chat', model: 'openai/gpt-4o', quantity: { inputTokens: 10 }, onBehalfOf: acting })).json();
    expect(decision).toMatchObject({ allowed: true, route: { name: 'openai', billing: 'tenant' } });
    const ask = (token: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      t.request({ method: 'POST', url: '/v1/routes/credentials', token, payload: { decisionId: decision.decisionId, ...body }, headers });
    const onBehalfOf = (who: { tenantId: string; userId: string }) => ({ 'tollgate-on-behalf-of': `${who.tenantId}:${who.userId}` });
    expect((await ask(service, { onBehalfOf: acting })).json().apiKey).toBe(OPENAI_KEY);
    expect((await ask(service, {}, onBehalfOf(acting))).json().apiKey).toBe(OPENAI_KEY);
    expect((await ask(service, {})).json().apiKey).toBe(OPENAI_KEY);
    const other = await t.signup();
    const stranger = { tenantId, userId: other.userId };
    const refusals: [string, string, Record<string, unknown>, Record<string, string>, number, string][] = [
      ['acting for another tenant (body)', service, { onBehalfOf: { tenantId: other.tenantId, userId: other.userId } }, {}, 404, 'DECISION_NOT_FOUND'],
      ['acting for another tenant (header)', service, {}, onBehalfOf(other), 404, 'DECISION_NOT_FOUND'],
      ['acting for a non-member', service, { onBehalfOf: stranger }, {}, 403, 'ON_BEHALF_OF_NOT_MEMBER'],
      ['body and header naming two', service, { onBehalfOf: acting }, onBehalfOf(other), 400, 'ON_BEHALF_OF_INVALID'],
      ['an API key naming a member', key, { onBehalfOf: acting }, {}, 403, 'ON_BEHALF_OF_FORBIDDEN'],
    ];
    for (const [label, token, body, headers, status, code] of refusals) {
      const res = await ask(token, body, headers);
      expect([label, res.statusCode, res.json().error?.code]).toEqual([label, status, code]);
      expect(res.body).not.toContain(OPENAI_KEY);
    }
  });
});

describe('secrets at rest and in the logs', () => {
  it('no table holds a route\'s secret or an issued credential in the clear, and no log line does', async () => {
    const tenant = await enterpriseTenant();
    const { owner, tenantId, key } = tenant;
    sts.roles.set(ROLE, sentExternalId(tenant, EXTERNAL_ID));
    await put(owner.accessToken, tenantId, 'aws-main', bedrock());
    await put(owner.accessToken, tenantId, 'openai', { provider: 'openai', apiKey: OPENAI_KEY });
    await credentials(key, (await authorize(key, { operation: 'chat', model: 'bedrock/claude-haiku', quantity: { inputTokens: 10 } })).json().decisionId);
    await credentials(key, (await authorize(key, { operation: 'chat', model: 'openai/gpt-4o', quantity: { inputTokens: 10 } })).json().decisionId);
    await t.deps.decisionLog.flush();
    const secrets = [EXTERNAL_ID, OPENAI_KEY, ...sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken]), PLATFORM_AWS.AWS_SECRET_ACCESS_KEY];
    const tables = await t.db.asOwner<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    expect(tables.map((r) => r.tablename)).toContain('tenant_routes');
    for (const { tablename } of tables) {
      const dump = JSON.stringify(await t.db.asOwner(`SELECT * FROM "${tablename}"`));
      for (const secret of secrets) expect(dump.includes(secret), `${secret.slice(0, 6)}… in ${tablename}`).toBe(false);
    }
    const sealed = await t.db.asOwner<{ secret_sealed: string }>('SELECT secret_sealed FROM tenant_routes WHERE tenant_id = $1', [tenantId]);
    expect(sealed.map((r) => r.secret_sealed)).toEqual([expect.stringMatching(/^v2\.[0-9a-f]{12}\./), expect.stringMatching(/^v2\.[0-9a-f]{12}\./)]);
    expect(logLines.length).toBeGreaterThan(10);
    const log = logLines.join('\n');
    for (const secret of secrets) expect(log.includes(secret), `${secret.slice(0, 6)}… in the log`).toBe(false);
  });
});

// Last in the file: afterwards the suite's own app (the old master secret only) can no longer open what is stored.
describe('rotating the master secret', () => {
  it('with the old secret configured as previous, `secrets reseal` seals every secret under the new one; the routes themselves do not change', async () => {
    const { owner, tenantId } = await enterpriseTenant();
    await put(owner.accessToken, tenantId, 'aws-main', bedrock());
    const hook = await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/webhooks`, token: owner.accessToken, payload: { url: 'http://127.0.0.1:9/hook', events: ['credits.low'] } });
    expect(hook.statusCode, hook.body).toBe(201);
    const NEW_SECRET = 'the-new-master-secret-0123456789abcdef';
    const depsWith = (env: Record<string, string>) => createDeps(testConfig(undefined, env), {
      clock: t.clock, database: t.db.database, mailer: new MemoryMailer(), logger: pino({ level: 'silent' }),
    });
    // Without the old secret, nothing sealed under it opens: the process refuses to start.
    await expect(depsWith({ TOLLGATE_SECRET_KEY: NEW_SECRET })).rejects.toThrow(/cannot unseal signing key/);
    const generation = await t.db.asOwner<{ generation: string }>('SELECT generation FROM tenants WHERE id = $1', [tenantId]);
    const rotating = await depsWith({ TOLLGATE_SECRET_KEY: NEW_SECRET, TOLLGATE_SECRET_KEY_PREVIOUS: TEST_SECRET });
    try {
      expect((await rotating.routing.usable(tenantId, 'aws-main'))?.secret).toBe(EXTERNAL_ID);
      const sealed = await rotating.resealSecrets();
      expect(sealed.signingKeys).toBeGreaterThanOrEqual(1);
      expect(sealed.routes).toBeGreaterThanOrEqual(1);
      expect(sealed.webhooks).toBeGreaterThanOrEqual(1);
      // The endpoint's whsec_ secret now opens under the new master secret alone, and is the one shown at creation.
      const [row] = await t.db.asOwner<{ secret_sealed: string }>('SELECT secret_sealed FROM webhook_endpoints WHERE id = $1', [hook.json().id]);
      expect(new Sealer('webhook-secrets', NEW_SECRET).unseal(row!.secret_sealed, hook.json().id)).toBe(hook.json().secret);
      expect(await rotating.resealSecrets()).toEqual({ signingKeys: 0, routes: 0, webhooks: 0 });
    } finally {
      await rotating.close();
    }
    expect(await t.db.asOwner('SELECT generation FROM tenants WHERE id = $1', [tenantId])).toEqual(generation);
    const audit = await t.db.asOwner<{ target_id: string }>(`SELECT target_id FROM audit_log WHERE action = 'secrets.reseal' ORDER BY target_id`);
    expect(audit.map((a) => a.target_id)).toEqual(['provider-routes', 'provider-routes', 'signing-keys', 'signing-keys', 'webhook-secrets', 'webhook-secrets']);
    const renewed = await depsWith({ TOLLGATE_SECRET_KEY: NEW_SECRET });
    try {
      expect((await renewed.routing.usable(tenantId, 'aws-main'))?.secret).toBe(EXTERNAL_ID);
    } finally {
      await renewed.close();
    }
  });
});
