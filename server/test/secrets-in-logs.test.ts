import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRET, createTestDatabase, onPostgres, type TestDatabase } from './harness.js';
import { PROCESS_TEST_TIMEOUT_MS, startServerProcess, type ServerProcess } from './server-process.js';
import { startTestSmtp, type TestSmtp } from './smtp.js';

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
let db: TestDatabase | undefined;
let server: ServerProcess;

beforeAll(async () => {
  smtp = await startTestSmtp();
  db = onPostgres ? await createTestDatabase() : undefined;
  server = await startServerProcess(db?.url, {
    LOG_LEVEL: 'trace', TOLLGATE_SMTP_URL: smtp.url,
    TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: OPERATOR.email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR.password,
  });
  keep('SMTP password', smtp.password);
  keep('master secret', TEST_SECRET);
  keep('password', OPERATOR.password);
}, PROCESS_TEST_TIMEOUT_MS);
afterAll(async () => {
  await server?.close();
  await db?.drop();
  await smtp?.close();
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
      'API key', 'SMTP password', 'access token', 'invitation token', 'master secret', 'password', 'refresh token', 'reset token', 'service key',
    ]);
  }, PROCESS_TEST_TIMEOUT_MS);
});
