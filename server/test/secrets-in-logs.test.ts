import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRET, createTestDatabase, onPostgres, type TestDatabase } from './harness.js';
import { PROCESS_TEST_TIMEOUT_MS, startServerProcess, type ServerProcess } from './server-process.js';
import { startTestSmtp, type TestSmtp } from './smtp.js';
import { startFakeSts, type FakeSts } from './sts.js';

/**
 * A real server, logging everything (LOG_LEVEL=trace), driven through every path that
 * handles a secret; then its whole output is searched for each secret it was given or
 * gave out. Mail goes over real SMTP, so the reset token is one the server really sent.
 */
const OPERATOR = { email: 'ops-logs@example.com', password: 'operator-password-in-env' };
const secrets = new Map<string, Set<string>>();
const keep = (kind: string, value: unknown) => {
  if (typeof value !== 'string' || value.length < 8) throw new Error(`no ${kind} to keep: ${String(value)}`);
  secrets.set(kind, (secrets.get(kind) ?? new Set()).add(value));
  return value;
};

let smtp: TestSmtp;
let sts: FakeSts;
let db: TestDatabase | undefined;
const PLATFORM_AWS = { AWS_ACCESS_KEY_ID: 'AKIAPLATFORMLOGS0001', AWS_SECRET_ACCESS_KEY: 'platform-aws-secret-in-env-for-logs' };
let server: ServerProcess;

beforeAll(async () => {
  smtp = await startTestSmtp();
  sts = await startFakeSts({ secrets: { [PLATFORM_AWS.AWS_ACCESS_KEY_ID]: PLATFORM_AWS.AWS_SECRET_ACCESS_KEY }, now: () => new Date() });
  db = onPostgres ? await createTestDatabase() : undefined;
  server = await startServerProcess(db?.url, {
    LOG_LEVEL: 'trace', TOLLGATE_SMTP_URL: smtp.url,
    // The platform's AWS credentials through the SDK's provider chain, STS at the fake's address.
    ...PLATFORM_AWS, AWS_ENDPOINT_URL_STS: sts.url, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: OPERATOR.email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR.password,
  });
  keep('SMTP password', smtp.password);
  keep('master secret', TEST_SECRET);
  keep('password', OPERATOR.password);
  keep('platform AWS secret', PLATFORM_AWS.AWS_SECRET_ACCESS_KEY);
}, PROCESS_TEST_TIMEOUT_MS);
afterAll(async () => {
  await server?.close();
  await db?.drop();
  await smtp?.close();
  await sts?.close();
});

async function call(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function signup(email: string) {
  const password = keep('password', `pw-${Math.random().toString(36).slice(2)}-long`);
  const res = await call('POST', '/v1/signup', { body: { email, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  keep('access token', res.body.accessToken);
  keep('refresh token', res.body.refreshToken);
  return { email, password, userId: res.body.user.id as string, tenantId: res.body.tenant.id as string, accessToken: res.body.accessToken as string, refreshToken: res.body.refreshToken as string };
}

describe('a whole run\'s log', () => {
  it('holds no password, key, token or secret', async () => {
    const ada = await signup('ada-logs@example.com');
    const bob = await signup('bob-logs@example.com');
    expect((await call('POST', '/v1/token', { body: { grantType: 'password', email: ada.email, password: keep('password', 'a-wrong-guess-123') } })).status).toBe(401);
    const signedIn = (await call('POST', '/v1/token', { body: { grantType: 'password', email: ada.email, password: ada.password } })).body;
    keep('access token', signedIn.accessToken);
    const refreshed = (await call('POST', '/v1/token', { body: { grantType: 'refresh_token', refreshToken: keep('refresh token', signedIn.refreshToken) } })).body;
    keep('access token', refreshed.accessToken);
    keep('refresh token', refreshed.refreshToken);
    expect((await call('POST', '/v1/token', { body: { grantType: 'refresh_token', refreshToken: signedIn.refreshToken } })).status).toBe(401);

    // API keys: made, used for a decision and its settlement, rotated, revoked, used once revoked.
    const key = (await call('POST', `/v1/tenants/${ada.tenantId}/api-keys`, { token: ada.accessToken, body: { name: 'backend', scopes: ['authorize', 'read'] } })).body;
    keep('API key', key.key);
    const decision = (await call('POST', '/v1/authorize', { token: key.key, body: { operation: 'clustering', idempotencyKey: 'logs-1' } })).body;
    expect(decision.allowed, JSON.stringify(decision)).toBe(true);
    expect((await call('POST', `/v1/reservations/${decision.reservation.id}/settle`, { token: key.key, body: { credits: 5 } })).status).toBe(200);
    const rotated = (await call('POST', `/v1/tenants/${ada.tenantId}/api-keys/${key.id}/rotate`, { token: ada.accessToken, body: { graceSeconds: 0 } })).body;
    keep('API key', rotated.key);
    expect((await call('DELETE', `/v1/tenants/${ada.tenantId}/api-keys/${rotated.id}`, { token: ada.accessToken })).status).toBe(204);
    expect((await call('GET', `/v1/tenants/${ada.tenantId}/credits`, { token: rotated.key })).status).toBe(401);
    expect((await call('GET', '/v1/me', { token: keep('API key', 'tg_notARealKeyButShapedLikeOne0123456789abcdef') })).status).toBe(401);

    // Service keys, made by the bootstrap operator, used on behalf of a member, revoked.
    const operator = (await call('POST', '/v1/token', { body: { grantType: 'password', email: OPERATOR.email, password: OPERATOR.password } })).body;
    keep('access token', operator.accessToken);
    const serviceKey = (await call('POST', '/v1/admin/service-keys', { token: operator.accessToken, body: { name: 'backend' } })).body;
    keep('service key', serviceKey.key);
    const onBehalf = { 'tollgate-on-behalf-of': `${ada.tenantId}:${ada.userId}` };
    expect((await call('GET', `/v1/tenants/${ada.tenantId}`, { token: serviceKey.key, headers: onBehalf })).status).toBe(200);
    expect((await call('DELETE', `/v1/admin/service-keys/${serviceKey.id}`, { token: operator.accessToken })).status).toBe(204);
    expect((await call('GET', `/v1/tenants/${ada.tenantId}`, { token: serviceKey.key, headers: onBehalf })).status).toBe(401);
    expect((await call('POST', '/v1/admin/signing-keys/rotate', { token: operator.accessToken })).status).toBe(200);

    // Provider routes: a Bedrock role and a provider key, sealed; credentials from STS and the key; an STS refusal.
    expect((await call('PATCH', `/v1/admin/tenants/${ada.tenantId}`, { token: operator.accessToken, body: { plan: 'enterprise' } })).status).toBe(200);
    const roleArn = 'arn:aws:iam::123456789012:role/tollgate-logs';
    const externalId = keep('external ID', 'external-id-of-ada-for-the-logs');
    // STS gets the tenant's own external ID (the platform's, not a secret), then the route's.
    const tenantsExternalId = (await call('GET', `/v1/admin/tenants/${ada.tenantId}/routes`, { token: operator.accessToken })).body.externalId;
    sts.roles.set(roleArn, `${tenantsExternalId}:${externalId}`);
    const routed = await call('PUT', `/v1/admin/tenants/${ada.tenantId}/routes/aws`, { token: operator.accessToken, body: { provider: 'bedrock', region: 'eu-central-1', roleArn, externalId, models: ['bedrock/*'] } });
    expect(routed.status, JSON.stringify(routed.body)).toBe(201);
    const providerKey = keep('provider key', 'sk-ada-own-openai-key-for-the-logs-0123');
    expect((await call('PUT', `/v1/admin/tenants/${ada.tenantId}/routes/openai`, { token: operator.accessToken, body: { provider: 'openai', apiKey: providerKey } })).status).toBe(201);
    const backend = keep('API key', (await call('POST', `/v1/tenants/${ada.tenantId}/api-keys`, { token: ada.accessToken, body: { name: 'llm', scopes: ['authorize', 'credentials'] } })).body.key);
    const onBedrock = (await call('POST', '/v1/authorize', { token: backend, body: { operation: 'clustering', model: 'bedrock/claude-haiku' } })).body;
    const aws = (await call('POST', '/v1/routes/credentials', { token: backend, body: { decisionId: onBedrock.decisionId } })).body;
    expect(aws.provider, JSON.stringify(aws)).toBe('bedrock');
    keep('STS credential', aws.credentials.secretAccessKey);
    keep('STS credential', aws.credentials.sessionToken);
    const onOpenai = (await call('POST', '/v1/authorize', { token: backend, body: { operation: 'clustering', model: 'openai/gpt-4o' } })).body;
    expect((await call('POST', '/v1/routes/credentials', { token: backend, body: { decisionId: onOpenai.decisionId } })).body.apiKey).toBe(providerKey);
    sts.roles.set(roleArn, 'another-external-id');
    await call('PUT', `/v1/admin/tenants/${ada.tenantId}/routes/aws`, { token: operator.accessToken, body: { provider: 'bedrock', region: 'eu-central-1', roleArn, externalId, models: ['*'] } });
    const refusedDecision = (await call('POST', '/v1/authorize', { token: backend, body: { operation: 'clustering', model: 'bedrock/claude-haiku' } })).body;
    expect((await call('POST', '/v1/routes/credentials', { token: backend, body: { decisionId: refusedDecision.decisionId } })).status).toBe(502);

    // An invitation, mailed and accepted.
    const invitation = (await call('POST', `/v1/tenants/${ada.tenantId}/invitations`, { token: ada.accessToken, body: { email: bob.email, role: 'member' } })).body;
    keep('invitation token', invitation.token);
    expect((await smtp.mailTo(bob.email)).text).toContain(invitation.token);
    expect((await call('POST', `/v1/invitations/${invitation.token}/accept`, { token: bob.accessToken })).status).toBe(200);

    // A password reset, mailed and spent; the old sessions are signed out.
    expect((await call('POST', '/v1/password-reset', { body: { email: ada.email } })).status).toBe(202);
    const resetToken = keep('reset token', /tgp_[0-9A-Za-z]+/.exec((await smtp.mailTo(ada.email)).text)?.[0]);
    const newPassword = keep('password', 'the-new-password-after-reset');
    expect((await call('POST', '/v1/password-reset/confirm', { body: { token: resetToken, password: newPassword } })).status).toBe(202);
    expect((await call('GET', '/v1/me', { token: ada.accessToken })).status).toBe(401);
    expect((await call('POST', '/v1/token', { body: { grantType: 'password', email: ada.email, password: newPassword } })).status).toBe(200);

    // A clean stop writes what is buffered (the decision log) and ends the output.
    await server.close();
    const output = server.output();
    // The run was logged at all: its requests and its mails.
    expect(output).toContain('"msg":"request"');
    expect(output).toContain('mail sent: password_reset to ada-logs@example.com');
    expect(output).toContain('mail sent: invitation to bob-logs@example.com');
    for (const [kind, values] of secrets) {
      for (const value of values) {
        expect(output.includes(value), `a ${kind} is in the log`).toBe(false);
        // A piece of one (a token cut short, a key without its prefix) counts too.
        if (value.length >= 32) expect(output.includes(value.slice(-16)), `the end of a ${kind} is in the log`).toBe(false);
      }
    }
    expect([...secrets.keys()].sort()).toEqual([
      'API key', 'SMTP password', 'STS credential', 'access token', 'external ID', 'invitation token', 'master secret', 'password', 'platform AWS secret',
      'provider key', 'refresh token', 'reset token', 'service key',
    ]);
  }, PROCESS_TEST_TIMEOUT_MS);
});
