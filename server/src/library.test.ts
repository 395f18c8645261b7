import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, testConfig } from '../test/harness.js';
import { AppError, buildApp, createTollgate } from './index.js';
import { ManualClock } from './lib/clock.js';
import type { AuthorizeRequest } from './modules/gate/index.js';

/** An embedded Tollgate on a fresh database of its own; `close` stops it and drops the database. */
async function embedded() {
  const clock = new ManualClock();
  const db = await createTestDatabase();
  const tollgate = await createTollgate(testConfig(), { database: db.database, clock, logger: pino({ level: 'silent' }) });
  return { tollgate, clock, close: async () => { await tollgate.close(); await db.drop(); } };
}

describe('createTollgate (embedded)', () => {
  it('offers the metering calls the HTTP routes wrap', async () => {
    const { tollgate, close } = await embedded();
    try {
      const { tenant } = await tollgate.deps.auth.signup({ email: 'embedded@example.com', password: 'correct-horse-battery' }, {});
      const caller = { tenantId: tenant.id, role: 'member' as const };
      expect(tollgate.previewCost({ operation: 'content', quantity: { words: 1200 } }).credits).toBe(12);
      expect(await tollgate.credits(tenant.id)).toEqual({ balance: 100, reserved: 0, available: 100 });
      const r = await tollgate.reserve(caller, { operation: 'content', quantity: { words: 1200 }, idempotencyKey: 'e-1' });
      if (!r.ok) throw new Error('reserve failed');
      expect(await tollgate.settle(caller, r.value.reservation.id, { quantity: { words: 300 } })).toMatchObject({ ok: true, value: { reservation: { charged: 3 } } });
      expect(await tollgate.consume(caller, 'runs')).toMatchObject({ ok: true, value: { usage: { used: 1, limit: 10 }, bypass: null } });
      expect((await tollgate.usage(tenant.id)).usage).toEqual([expect.objectContaining({ meter: 'runs', used: 1, remaining: 9 })]);
      expect(await tollgate.grant(caller, { amount: 10, idempotencyKey: 'top-up' })).toMatchObject({ ok: true, value: { credits: { balance: 107 } } });
    } finally {
      await close();
    }
  });

  it('offers the route credentials of a decision and the usage summary, as their routes answer them', async () => {
    const { tollgate, clock, close } = await embedded();
    const app = await buildApp(tollgate.deps);
    const call = async (method: 'POST' | 'PATCH' | 'PUT', url: string, payload: object, token: string) => {
      const res = await app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode, res.body).toBeLessThan(300);
      return res.json() as Record<string, string>;
    };
    try {
      // An enterprise tenant (own providers allowed) with its own OpenAI key route and an API key for decisions and credentials.
      const { tenant, accessToken } = await tollgate.deps.auth.signup({ email: 'embedded-routes@example.com', password: 'correct-horse-battery' }, {});
      await tollgate.deps.auth.ensureOperator('embedded-operator@example.com', 'operator-password-123', 'test');
      const op = (await app.inject({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: 'embedded-operator@example.com', password: 'operator-password-123' } })).json() as { accessToken: string };
      await call('PATCH', `/v1/admin/tenants/${tenant.id}`, { plan: 'enterprise' }, op.accessToken);
      await call('PUT', `/v1/tenants/${tenant.id}/routes/openai`, { provider: 'openai', apiKey: 'sk-embedded-own-key', baseUrl: 'https://llm-proxy.example.com/v1' }, accessToken);
      const { key } = await call('POST', `/v1/tenants/${tenant.id}/api-keys`, { name: 'backend', scopes: ['authorize', 'credentials'] }, accessToken);

      const decision = await tollgate.authorize(key!, { operation: 'chat', model: 'openai/gpt-4o', quantity: { inputTokens: 10 } });
      expect(decision).toMatchObject({ allowed: true, route: { name: 'openai', billing: 'tenant' } });
      expect(await tollgate.providerCredentials(key!, decision.decisionId)).toEqual({ provider: 'openai', route: 'openai', apiKey: 'sk-embedded-own-key', baseUrl: 'https://llm-proxy.example.com/v1' });
      await expect(tollgate.providerCredentials(key!, 'dec_00000000000000000000000000')).rejects.toMatchObject({ code: 'DECISION_NOT_FOUND' });

      await tollgate.deps.decisionLog.flush();
      const today = clock.now().toISOString().slice(0, 10);
      expect((await tollgate.usageSummary(tenant.id, { from: today, to: today })).days).toEqual([expect.objectContaining({ date: today, allowed: 1 })]);
      expect((await tollgate.usageSummary(tenant.id)).days).toHaveLength(30);
      // A date-time names the UTC day it falls in, as the route reads it; text that is neither is refused.
      expect(await tollgate.usageSummary(tenant.id, { from: `${today}T23:00:00+02:00`, to: `${today}T00:00:00Z` })).toEqual(await tollgate.usageSummary(tenant.id, { from: today, to: today }));
      for (const from of ['2026-1-1', '2026-02-30', `${today}T00:00:00`, 'yesterday']) {
        await expect(tollgate.usageSummary(tenant.id, { from }), from).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      }
      const inverted = tollgate.usageSummary(tenant.id, { from: today, to: '2000-01-01' });
      await expect(inverted).rejects.toBeInstanceOf(AppError);
      await expect(inverted).rejects.toMatchObject({ code: 'DATE_RANGE_INVERTED' });
    } finally {
      await app.close();
      await close();
    }
  });

  it('a decision refused for the tenant\'s standing names the tenant\'s plan, as the route\'s does', async () => {
    const { tollgate, close } = await embedded();
    const app = await buildApp(tollgate.deps);
    try {
      const { tenant, accessToken } = await tollgate.deps.auth.signup({ email: 'embedded-standing@example.com', password: 'correct-horse-battery' }, {});
      await tollgate.deps.auth.ensureOperator('embedded-standing-operator@example.com', 'operator-password-123', 'test');
      const op = (await app.inject({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: 'embedded-standing-operator@example.com', password: 'operator-password-123' } })).json() as { accessToken: string };
      const patch = async (payload: object) => {
        const res = await app.inject({ method: 'PATCH', url: `/v1/admin/tenants/${tenant.id}`, payload, headers: { authorization: `Bearer ${op.accessToken}` } });
        expect(res.statusCode, res.body).toBe(200);
      };
      await patch({ plan: 'pro' });
      expect(await tollgate.authorize(accessToken, { operation: 'clustering' }, { tenantHeader: tenant.id })).toMatchObject({ allowed: true, tenant: { plan: 'pro' } });
      await patch({ status: 'suspended' });
      expect(await tollgate.authorize(accessToken, { operation: 'clustering' }, { tenantHeader: tenant.id })).toMatchObject({
        allowed: false, code: 'TENANT_SUSPENDED', tenant: { id: tenant.id, plan: 'pro', enterprise: false },
      });
    } finally {
      await app.close();
      await close();
    }
  });

  it('refuses a decision\'s body the route would refuse (a negative or fractional quantity, an unknown field) with VALIDATION_FAILED, and writes nothing', async () => {
    const { tollgate, close } = await embedded();
    const app = await buildApp(tollgate.deps);
    try {
      const { tenant, accessToken } = await tollgate.deps.auth.signup({ email: 'embedded-bodies@example.com', password: 'correct-horse-battery' }, {});
      const key = (await app.inject({ method: 'POST', url: `/v1/tenants/${tenant.id}/api-keys`, payload: { name: 'k', scopes: ['authorize'] }, headers: { authorization: `Bearer ${accessToken}` } })).json().key as string;
      const bodies = [
        { operation: 'content_generation', quantity: { words: -5000 } }, { operation: 'content_generation', quantity: { words: 150.5 } },
        { operation: 'clustering', quantity: { words: Number.NaN } }, { operation: 'clustering', priority: 'high' }, { operation: '' },
      ];
      for (const body of bodies) {
        const http = await app.inject({ method: 'POST', url: '/v1/authorize', payload: body, headers: { authorization: `Bearer ${key}` } });
        const inProcess = await tollgate.authorize(key, body as AuthorizeRequest).then((d) => `allowed: ${d.allowed}`, (error: { code?: string }) => error.code);
        expect([body, http.statusCode, http.json().error?.code, inProcess]).toEqual([body, 400, 'VALIDATION_FAILED', 'VALIDATION_FAILED']);
      }
      expect(await tollgate.credits(tenant.id)).toEqual({ balance: 100, reserved: 0, available: 100 });
      expect((await tollgate.usage(tenant.id)).usage).toEqual([expect.objectContaining({ meter: 'runs', used: 0 })]);
      // The credential is asked first, as the route's hook does: a bad one is UNAUTHENTICATED whatever the body.
      await expect(tollgate.authorize('tg_not-a-key', bodies[0] as AuthorizeRequest)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    } finally {
      await app.close();
      await close();
    }
  });

  it('refuses text the database cannot hold with MALFORMED_TEXT, as the HTTP edge does, and writes nothing', async () => {
    const { tollgate, close } = await embedded();
    try {
      const { tenant, accessToken } = await tollgate.deps.auth.signup({ email: 'embedded-text@example.com', password: 'correct-horse-battery' }, {});
      const caller = { tenantId: tenant.id, role: 'member' as const };
      const before = await tollgate.credits(tenant.id);
      for (const request of [{ operation: 'clustering', idempotencyKey: 'job\u0000 1' }, { operation: 'clustering', idempotencyKey: 'job \ud800' }]) {
        const refused = tollgate.authorize(accessToken, request, { tenantHeader: tenant.id });
        await expect(refused).rejects.toBeInstanceOf(AppError);
        await expect(refused).rejects.toMatchObject({ code: 'MALFORMED_TEXT', message: expect.stringContaining('arguments.1.idempotencyKey') });
      }
      await expect(tollgate.reserve(caller, { operation: 'content', quantity: { words: 10 }, idempotencyKey: 'r\u0000' })).rejects.toMatchObject({ code: 'MALFORMED_TEXT' });
      // A call that answers at once refuses at once.
      expect(() => tollgate.previewCost({ operation: 'content\u0000' })).toThrow(expect.objectContaining({ code: 'MALFORMED_TEXT' }));
      expect(await tollgate.credits(tenant.id)).toEqual(before);
      expect((await tollgate.usage(tenant.id)).usage).toEqual([expect.objectContaining({ meter: 'runs', used: 0 })]);
      // Well-formed text, pairs of surrogates included, is decided as ever (in a field the route takes any text in).
      expect(await tollgate.authorize(accessToken, { operation: 'clustering', model: 'job 😀' }, { tenantHeader: tenant.id })).toMatchObject({ allowed: true });
    } finally {
      await close();
    }
  });
});
