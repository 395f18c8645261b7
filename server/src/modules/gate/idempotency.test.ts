// The decision's answers over time: idempotent retries, and changes made elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../config-schema.js';
import { createTollgate } from '../../library.js';
import { snapshot, startTestApp, testConfig, type SignedUp, type TestApp } from '../../../test/harness.js';
import pino from 'pino';

let t: TestApp;
let op: SignedUp;

beforeAll(async () => {
  t = await startTestApp({ patch: (file: ConfigFile) => { file.plans.pro!.models = ['bedrock/*']; } });
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

const authorize = (token: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
  t.request({ method: 'POST', url: '/v1/authorize', token, payload, headers });

async function keyOf(owner: SignedUp, body: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'backend', scopes: ['authorize'], ...body } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

const admin = (tenantId: string, payload: Record<string, unknown>) =>
  t.request({ method: 'PATCH', url: `/v1/admin/tenants/${tenantId}`, token: op.accessToken, payload });

/** Everything a decision may consume: counters, leases, credits, ledger, usage log, reservations. */
async function consumption(): Promise<Record<string, string>> {
  const all = await snapshot(t.db);
  const keep = ['usage_counters', 'usage_events', 'run_leases', 'run_slots', 'credit_accounts', 'credit_ledger', 'credit_reservations', 'audit_log'];
  return Object.fromEntries(Object.entries(all).filter(([table]) => keep.includes(table)));
}

describe('idempotency', () => {
  it('the same key returns the first decision and consumes nothing more; a different request with it is a conflict', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const first = (await authorize(key, { operation: 'clustering', idempotencyKey: 'run-1' })).json();
    const before = await consumption();
    const again = (await authorize(key, { operation: 'clustering', idempotencyKey: 'run-1' })).json();
    expect(again).toMatchObject({ decisionId: first.decisionId, reservation: first.reservation, replayed: true });
    expect(await consumption()).toEqual(before);
    const conflict = await authorize(key, { operation: 'image_generation', idempotencyKey: 'run-1' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('a retry listing its quantity\'s units in another order is the same request: replayed, not a conflict', async () => {
    const owner = await t.signup();
    expect((await admin(owner.tenantId, { plan: 'pro' })).statusCode).toBe(200);
    const { key } = await keyOf(owner);
    const call = (quantity: Record<string, number>) => authorize(key, { operation: 'chat', model: 'bedrock/claude-haiku', quantity, idempotencyKey: 'tokens-1' });
    const first = (await call({ inputTokens: 1000, outputTokens: 200 })).json();
    expect(first.code).toBe('OK');
    const before = await consumption();
    const retried = await call({ outputTokens: 200, inputTokens: 1000 });
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ decisionId: first.decisionId, replayed: true });
    expect(await consumption()).toEqual(before);
    expect((await call({ inputTokens: 1000, outputTokens: 201 })).json().error.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('another principal of the tenant naming the same key is a conflict, not the first call\'s answer, even past its own cap', async () => {
    const owner = await t.signup();
    const first = await keyOf(owner);
    const capped = await keyOf(owner, { usageCap: 1 });
    const allowed = (await authorize(first.key, { operation: 'clustering', idempotencyKey: 'job-1' })).json();
    expect(allowed.allowed).toBe(true);
    expect((await authorize(capped.key, { operation: 'clustering' })).json().allowed).toBe(true);
    expect((await authorize(capped.key, { operation: 'clustering' })).json()).toMatchObject({ allowed: false, code: 'LIMIT_EXCEEDED' });
    const before = await consumption();
    for (const token of [capped.key, owner.accessToken]) {
      const other = await authorize(token, { operation: 'clustering', idempotencyKey: 'job-1' });
      expect(other.statusCode, other.body).toBe(409);
      expect(other.json().error.code).toBe('IDEMPOTENCY_CONFLICT');
      expect(other.body).not.toContain(first.id);
      expect(other.body).not.toContain(allowed.reservation.id);
    }
    expect(await consumption()).toEqual(before);
    // The call's own principal retrying it is answered as before.
    expect((await authorize(first.key, { operation: 'clustering', idempotencyKey: 'job-1' })).json())
      .toMatchObject({ decisionId: allowed.decisionId, reservation: allowed.reservation, principal: { type: 'api_key', id: first.id }, replayed: true });
  });

  it('20 concurrent requests with one key have exactly one effect', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const results = await Promise.all(Array.from({ length: 20 }, () => authorize(key, { operation: 'clustering', idempotencyKey: 'burst' })));
    const ids = new Set(results.map((r) => r.json().decisionId));
    expect(ids.size).toBe(1);
    const usage = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage`, token: owner.accessToken })).json();
    expect(usage.usage.find((u: { meter: string }) => u.meter === 'runs').used).toBe(1);
    const credits = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json();
    // One hold: the account holds exactly the one reservation's credits.
    expect(credits.reserved).toBe(results[0]!.json().reservation.credits);
  });

  it('20 concurrent refusals with one key are one refusal: the same decision, replayed', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    await admin(owner.tenantId, { limits: { runs: 0 } });
    const results = await Promise.all(Array.from({ length: 20 }, () => authorize(key, { operation: 'clustering', idempotencyKey: 'refused-burst' })));
    expect(new Set(results.map((r) => r.json().decisionId)).size).toBe(1);
    expect(results.every((r) => r.json().code === 'LIMIT_EXCEEDED')).toBe(true);
  });

  it('a refused decision is replayed as refused', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    await admin(owner.tenantId, { limits: { runs: 0 } });
    expect((await authorize(key, { operation: 'clustering', idempotencyKey: 'r' })).json().code).toBe('LIMIT_EXCEEDED');
    await admin(owner.tenantId, { limits: { runs: null } });
    const replay = (await authorize(key, { operation: 'clustering', idempotencyKey: 'r' })).json();
    expect(replay).toMatchObject({ allowed: false, code: 'LIMIT_EXCEEDED', replayed: true });
  });
});

describe('in-process', () => {
  it('createTollgate(config).authorize gives the same decision as the HTTP route', async () => {
    const owner = await t.signup();
    const { key } = await keyOf(owner);
    const tollgate = await createTollgate(testConfig(), { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }) });
    try {
      const decision = await tollgate.authorize(key, { operation: 'content_generation', quantity: { words: 250 } });
      expect(decision).toMatchObject({ allowed: true, code: 'OK', operation: { credits: 3 }, tenant: { id: owner.tenantId } });
      const denied = await tollgate.authorize(key, { operation: 'linking' });
      expect(denied).toMatchObject({ allowed: false, code: 'NOT_IN_PLAN' });
      await expect(tollgate.authorize('tg_garbage', { operation: 'clustering' })).rejects.toThrow();
    } finally {
      await tollgate.close();
    }
  });
});

describe('the decision reads the truth, not a stale cache', () => {
  it('a revocation, suspension or removal made by another process is honoured even when this process missed the notification', async () => {
    const other = await createTollgate(testConfig(), { clock: t.clock, database: t.db.database, logger: pino({ level: 'silent' }) });
    try {
      const owner = await t.signup();
      const member = await t.signup();
      const inv = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: member.email, role: 'member' } })).json();
      await t.request({ method: 'POST', url: `/v1/invitations/${inv.token}/accept`, token: member.accessToken });
      const { key, id } = await keyOf(owner);
      const second = await keyOf(owner);
      // warm the other process's caches, then deafen it to notifications
      expect((await other.authorize(key, { operation: 'clustering' })).allowed).toBe(true);
      expect((await other.authorize(member.accessToken, { operation: 'clustering', tenantId: owner.tenantId })).allowed).toBe(true);
      await other.deps.changes.stop();

      await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${id}`, token: owner.accessToken });
      await expect(other.authorize(key, { operation: 'clustering' })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });

      await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/members/${member.userId}`, token: owner.accessToken });
      await expect(other.authorize(member.accessToken, { operation: 'clustering', tenantId: owner.tenantId })).rejects.toMatchObject({ code: 'TENANT_NOT_FOUND' });

      await admin(owner.tenantId, { status: 'suspended' });
      expect(await other.authorize(second.key, { operation: 'clustering' })).toMatchObject({ allowed: false, code: 'TENANT_SUSPENDED' });
    } finally {
      await other.close();
    }
  });
});
