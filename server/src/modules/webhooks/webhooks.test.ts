import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createDeps } from '../../deps.js';
import { capturedLogger, onPostgres, snapshot, startSecondInstance, startTestApp, testConfig, type SignedUp, type TestApp } from '../../../test/harness.js';
import { WebhookReceiver } from '../../../test/webhook-receiver.js';
import { MemoryMailer } from '../../lib/mailer.js';

const HOUR = 3_600_000;

let t: TestApp;
let receiver: WebhookReceiver;
let url: string;
let operator: SignedUp;

beforeAll(async () => {
  const logs = capturedLogger();
  t = await startTestApp({
    logger: logs.logger,
    patch: (file) => {
      file.webhooks.creditsLowThreshold = 50;
      file.webhooks.disableAfterSeconds = 6 * 3600;
      file.webhooks.disableAfterFailures = 4;
      file.webhooks.maxAttempts = 30;
      file.webhooks.retryBaseSeconds = 10;
      file.webhooks.retryMaxSeconds = 3600;
    },
  });
  secretLogs = logs.lines;
  receiver = new WebhookReceiver(t.clock);
  url = await receiver.start();
  operator = await t.operator();
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});
let secretLogs: string[];

/** A fresh access token (tests move the clock past a token's lifetime). */
async function login(user: SignedUp): Promise<SignedUp> {
  const res = await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password: user.password } });
  expect(res.statusCode, res.body).toBe(200);
  return { ...user, accessToken: res.json().accessToken };
}

async function endpointFor(owner: SignedUp, events: string[]): Promise<{ id: string; secret: string }> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken, payload: { url, events } });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json();
  receiver.secret = body.secret;
  return { id: body.id, secret: body.secret };
}

async function apiKey(owner: SignedUp): Promise<{ id: string; key: string }> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k' } });
  return res.json();
}

/** Revokes an API key: the api_key.revoked event every dispatch test here sends. */
async function revoke(owner: SignedUp, key: { id: string }): Promise<void> {
  const res = await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${key.id}`, token: owner.accessToken });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

async function events(tenantId: string, type: string): Promise<{ id: string; data: Record<string, unknown> }[]> {
  return t.db.asOwner(`SELECT id, data FROM webhook_events WHERE tenant_id = $1 AND type = $2 ORDER BY created_at, (data->>'threshold')::int NULLS FIRST, id`, [tenantId, type]);
}

describe('webhook endpoints', () => {
  it('a tenant\'s endpoint gets its events signed per Standard Webhooks, checked by the standardwebhooks library', async () => {
    const owner = await t.signup();
    const endpoint = await endpointFor(owner, ['api_key.revoked']);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken });
    expect(listed.json().webhooks).toEqual([expect.objectContaining({ id: endpoint.id, url, events: ['api_key.revoked'], status: 'enabled', tenantId: owner.tenantId })]);
    expect(listed.body).not.toContain('whsec_');
    const [stored] = await t.db.asOwner<{ secret_sealed: string }>('SELECT secret_sealed FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
    expect(stored!.secret_sealed).not.toContain(endpoint.secret.slice(6));

    const key = await apiKey(owner);
    const before = receiver.received.length;
    await revoke(owner, key);
    // The event is in the outbox with the revocation; nothing is sent before the dispatcher runs.
    expect(await events(owner.tenantId, 'api_key.revoked')).toHaveLength(1);
    expect(receiver.received.length).toBe(before);
    await t.deps.webhookDispatcher.runOnce();
    const got = receiver.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      verified: true,
      body: { type: 'api_key.revoked', data: { tenantId: owner.tenantId, apiKey: { id: key.id } } },
    });
    expect(got[0]!.id).toMatch(/^msg_/);
    expect(got[0]!.signature).toMatch(/^v1,/);
    const deliveries = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries`, token: owner.accessToken })).json();
    expect(deliveries.deliveries).toEqual([expect.objectContaining({ eventId: got[0]!.id, eventType: 'api_key.revoked', status: 'succeeded', attempts: 1, responseStatus: 200, nextAttemptAt: null })]);
    // Revoking again changes nothing and announces nothing.
    await revoke(owner, key);
    expect(await events(owner.tenantId, 'api_key.revoked')).toHaveLength(1);
  });

  it('only the types an endpoint asked for, and only its own tenant\'s; an operator\'s endpoint gets every tenant\'s', async () => {
    const a = await t.signup();
    const b = await t.signup();
    const endpoint = await endpointFor(a, ['subscription.updated']);
    const created = await t.request({ method: 'POST', url: '/v1/admin/webhooks', token: (await login(operator)).accessToken, payload: { url, events: ['api_key.revoked', 'subscription.updated'] } });
    expect(created.statusCode, created.body).toBe(201);
    const op = created.json();
    const keyA = await apiKey(a);
    const keyB = await apiKey(b);
    await t.request({ method: 'DELETE', url: `/v1/tenants/${a.tenantId}/api-keys/${keyA.id}`, token: a.accessToken });
    await t.request({ method: 'DELETE', url: `/v1/tenants/${b.tenantId}/api-keys/${keyB.id}`, token: b.accessToken });
    await t.request({ method: 'POST', url: `/v1/tenants/${b.tenantId}/subscription/cancel`, token: b.accessToken, payload: { atPeriodEnd: true } });
    await t.deps.webhookDispatcher.runOnce();
    const mine = (await t.request({ method: 'GET', url: `/v1/tenants/${a.tenantId}/webhooks/${endpoint.id}/deliveries`, token: a.accessToken })).json().deliveries;
    expect(mine).toEqual([]);
    const theirs = (await t.request({ method: 'GET', url: `/v1/admin/webhooks/${op.id}/deliveries`, token: (await login(operator)).accessToken })).json().deliveries;
    expect(theirs.map((d: { eventType: string }) => d.eventType).sort()).toEqual(['api_key.revoked', 'api_key.revoked', 'subscription.updated']);
    expect((await t.request({ method: 'GET', url: '/v1/admin/webhooks', token: (await login(operator)).accessToken })).json().webhooks.map((w: { id: string }) => w.id)).toContain(op.id);
    // A tenant cannot see or touch an operator's endpoint: the 404 of a missing one.
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${a.tenantId}/webhooks/${op.id}`, token: a.accessToken })).statusCode).toBe(404);
    expect((await t.request({ method: 'DELETE', url: `/v1/admin/webhooks/${op.id}`, token: (await login(operator)).accessToken })).statusCode).toBe(204);
    expect((await t.request({ method: 'DELETE', url: `/v1/admin/webhooks/${op.id}`, token: (await login(operator)).accessToken })).statusCode).toBe(404);
  });

  it('billing\'s events come from its transactions: subscription.updated and tenant.suspended', async () => {
    const owner = await t.signup();
    await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/subscription/cancel`, token: owner.accessToken, payload: { atPeriodEnd: true } });
    const updated = await events(owner.tenantId, 'subscription.updated');
    expect(updated).toHaveLength(1);
    expect(updated[0]!.data).toMatchObject({ tenantId: owner.tenantId, event: 'cancel_scheduled' });
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: (await login(operator)).accessToken, payload: { status: 'suspended' } });
    const suspended = await events(owner.tenantId, 'tenant.suspended');
    // An operator confirms a bank transfer: payment.succeeded (and the subscription's change) in that transaction.
    const paying = await t.signup();
    const paid = await t.request({
      method: 'POST', url: `/v1/admin/tenants/${paying.tenantId}/payments/bank-transfer`, token: (await login(operator)).accessToken,
      payload: { externalPaymentId: `BANK-${paying.tenantId}`, amount: 4900, currency: 'EUR', payerName: 'Payer Ltd', plan: 'pro' },
    });
    expect(paid.statusCode, paid.body).toBeLessThan(300);
    expect((await events(paying.tenantId, 'payment.succeeded')).map((e) => e.data)).toEqual([expect.objectContaining({ tenantId: paying.tenantId, payment: expect.objectContaining({ status: 'succeeded' }) })]);
    expect(await events(paying.tenantId, 'subscription.updated')).not.toEqual([]);
    expect(suspended).toEqual([expect.objectContaining({ data: expect.objectContaining({ tenantId: owner.tenantId, reason: 'operator' }) })]);
  });
});

describe('delivery', () => {
  it('a receiver down then up gets every event once it recovers, each with the same webhook-id on every attempt', async () => {
    const owner = await t.signup();
    const endpoint = await endpointFor(owner, ['api_key.revoked']);
    const keys = [await apiKey(owner), await apiKey(owner), await apiKey(owner)];
    receiver.status = 503;
    const before = receiver.received.length;
    for (const key of keys) await revoke(owner, key);
    await t.deps.webhookDispatcher.runOnce();
    t.clock.advance(60_000);
    await t.deps.webhookDispatcher.runOnce();
    const log = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries`, token: owner.accessToken })).json().deliveries;
    expect(log).toHaveLength(3);
    for (const d of log) expect(d).toMatchObject({ status: 'pending', responseStatus: 503, attempts: 2, lastError: 'the receiver answered 503' });
    for (const d of log) expect(Date.parse(d.nextAttemptAt)).toBeGreaterThan(t.clock.now().getTime());
    receiver.status = 200;
    t.clock.advance(HOUR);
    await t.deps.webhookDispatcher.runOnce();
    const got = receiver.received.slice(before);
    expect(got).toHaveLength(9);
    const fresh = await login(owner);
    const ids = new Set(got.map((r) => r.id));
    expect(ids.size).toBe(3);
    for (const id of ids) expect(got.filter((r) => r.id === id)).toHaveLength(3);
    expect(got.every((r) => r.verified)).toBe(true);
    const after = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries`, token: fresh.accessToken })).json().deliveries;
    expect(after.map((d: { status: string }) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // Nothing is sent twice once delivered.
    t.clock.advance(HOUR);
    await t.deps.webhookDispatcher.runOnce();
    expect(receiver.received.length).toBe(before + 9);
  });

  it('backoff grows exponentially with jitter, capped', () => {
    const d = t.deps.webhookDispatcher;
    for (let attempt = 1; attempt <= 12; attempt++) {
      const expected = Math.min(3600, 10 * 2 ** (attempt - 1)) * 1000;
      const ms = d.backoffMs(attempt);
      expect(ms).toBeGreaterThanOrEqual(expected * 0.75);
      expect(ms).toBeLessThanOrEqual(expected * 1.25);
    }
  });

  it('manual retry sends a delivered or failed delivery again with the same webhook-id', async () => {
    const owner = await t.signup();
    const endpoint = await endpointFor(owner, ['api_key.revoked']);
    const key = await apiKey(owner);
    await revoke(owner, key);
    const before = receiver.received.length;
    await t.deps.webhookDispatcher.runOnce();
    const [delivery] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries`, token: owner.accessToken })).json().deliveries;
    const retried = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries/${delivery.id}/retry`, token: owner.accessToken });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(retried.json()).toMatchObject({ id: delivery.id, status: 'pending', attempts: 0 });
    await t.deps.webhookDispatcher.runOnce();
    const got = receiver.received.slice(before);
    expect(got.map((r) => r.id)).toEqual([delivery.eventId, delivery.eventId]);
    const audit = await t.db.asOwner('SELECT action FROM audit_log WHERE tenant_id = $1 AND action = $2', [owner.tenantId, 'webhook.retry']);
    expect(audit).toHaveLength(1);
    // Another tenant naming this delivery gets the 404 of a missing one.
    const other = await t.signup();
    expect((await t.request({ method: 'POST', url: `/v1/tenants/${other.tenantId}/webhooks/${endpoint.id}/deliveries/${delivery.id}/retry`, token: other.accessToken })).statusCode).toBe(404);
  });

  it('an endpoint failing for long enough is disabled, audited, and its owners told by mail; nothing more is sent to it', async () => {
    let owner = await t.signup();
    const endpoint = await endpointFor(owner, ['api_key.revoked']);
    receiver.status = 500;
    const key = await apiKey(owner);
    await revoke(owner, key);
    const mails = t.mailer.outbox.length;
    for (let i = 0; i < 12; i++) {
      await t.deps.webhookDispatcher.runOnce();
      t.clock.advance(HOUR);
    }
    receiver.status = 200;
    owner = await login(owner);
    const [row] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken })).json().webhooks;
    expect(row).toMatchObject({ id: endpoint.id, status: 'disabled' });
    expect(row.disabledReason).toContain('attempts in a row');
    const [delivery] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries`, token: owner.accessToken })).json().deliveries;
    expect(delivery.status).toBe('failed');
    const audit = await t.db.asOwner('SELECT actor_type FROM audit_log WHERE tenant_id = $1 AND action = $2', [owner.tenantId, 'webhook.disable']);
    expect(audit).toEqual([{ actor_type: 'system' }]);
    const told = t.mailer.outbox.slice(mails).filter((m) => m.kind === 'webhook_disabled');
    expect(told.map((m) => m.to)).toEqual([owner.email]);
    expect(told[0]!.text).toContain(endpoint.id);
    const retry = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries/${delivery.id}/retry`, token: owner.accessToken });
    expect(retry.statusCode).toBe(409);
    expect(retry.json().error.code).toBe('WEBHOOK_DISABLED');
    // New events are not fanned out to it.
    const key2 = await apiKey(owner);
    await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${key2.id}`, token: owner.accessToken });
    await t.deps.webhookDispatcher.runOnce();
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/deliveries`, token: owner.accessToken })).json().deliveries).toHaveLength(1);
  });

  it('a disabled endpoint enabled again keeps its id and secret, gets the events from then on, and its failed deliveries can be retried', async () => {
    let owner = await t.signup();
    const endpoint = await endpointFor(owner, ['api_key.revoked']);
    receiver.status = 500;
    await revoke(owner, await apiKey(owner));
    for (let i = 0; i < 12; i++) {
      await t.deps.webhookDispatcher.runOnce();
      t.clock.advance(HOUR);
    }
    receiver.status = 200;
    owner = await login(owner);
    const base = `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}`;
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken })).json().webhooks[0].status).toBe('disabled');
    // Another tenant naming it, under its own tenant or this one, gets the 404 of a missing one.
    const other = await t.signup();
    expect((await t.request({ method: 'POST', url: `/v1/tenants/${other.tenantId}/webhooks/${endpoint.id}/enable`, token: other.accessToken })).statusCode).toBe(404);
    expect((await t.request({ method: 'POST', url: `${base}/enable`, token: other.accessToken })).statusCode).toBe(404);

    const enabled = await t.request({ method: 'POST', url: `${base}/enable`, token: owner.accessToken });
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect(enabled.json()).toMatchObject({ id: endpoint.id, status: 'enabled', failingSince: null, disabledAt: null, disabledReason: null });
    const audit = await t.db.asOwner<{ actor_type: string; data: { disabledReason: string } }>('SELECT actor_type, data FROM audit_log WHERE tenant_id = $1 AND action = $2', [owner.tenantId, 'webhook.enable']);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor_type).toBe('user');
    expect(audit[0]!.data.disabledReason).toContain('attempts in a row');
    // Enabling an enabled endpoint answers it as it is and writes nothing.
    const before = await snapshot(t.db);
    const again = await t.request({ method: 'POST', url: `${base}/enable`, token: owner.accessToken });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(enabled.json());
    expect(await snapshot(t.db)).toEqual(before);

    // An event from now on is sent, signed with the secret it always had (the receiver checks it).
    const sent = receiver.received.length;
    await revoke(owner, await apiKey(owner));
    await t.deps.webhookDispatcher.runOnce();
    expect(receiver.received.slice(sent).map((r) => [r.body.type, r.verified])).toEqual([['api_key.revoked', true]]);
    // The delivery that failed when it was disabled can be retried now.
    const deliveries = (await t.request({ method: 'GET', url: `${base}/deliveries`, token: owner.accessToken })).json().deliveries;
    const failed = deliveries.find((d: { status: string }) => d.status === 'failed');
    expect(failed).toBeDefined();
    const retry = await t.request({ method: 'POST', url: `${base}/deliveries/${failed.id}/retry`, token: owner.accessToken });
    expect(retry.statusCode, retry.body).toBe(202);
    await t.deps.webhookDispatcher.runOnce();
    expect(receiver.received.slice(sent).map((r) => r.id)).toContain(failed.eventId);
  });

  it('an operators\' endpoint is enabled again by an operator, never by a tenant', async () => {
    const fresh = await login(operator);
    const created = await t.request({ method: 'POST', url: '/v1/admin/webhooks', token: fresh.accessToken, payload: { url, events: ['tenant.suspended'] } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id as string;
    await t.db.asOwner(`UPDATE webhook_endpoints SET status = 'disabled', disabled_at = now(), disabled_reason = 'test' WHERE id = $1`, [id]);
    const tenant = await t.signup();
    expect((await t.request({ method: 'POST', url: `/v1/tenants/${tenant.tenantId}/webhooks/${id}/enable`, token: tenant.accessToken })).statusCode).toBe(404);
    expect((await t.request({ method: 'POST', url: `/v1/admin/webhooks/${id}/enable`, token: tenant.accessToken })).statusCode).toBe(403);
    const enabled = await t.request({ method: 'POST', url: `/v1/admin/webhooks/${id}/enable`, token: fresh.accessToken });
    expect(enabled.statusCode, enabled.body).toBe(200);
    expect(enabled.json()).toMatchObject({ id, tenantId: null, status: 'enabled' });
    const [entry] = await t.db.asOwner<{ actor_type: string }>(`SELECT actor_type FROM audit_log WHERE action = 'webhook.enable' AND target_id = $1`, [id]);
    expect(entry!.actor_type).toBe('operator');
    // It would receive every tenant's events from here on: the suites after this one do not expect it.
    expect((await t.request({ method: 'DELETE', url: `/v1/admin/webhooks/${id}`, token: fresh.accessToken })).statusCode).toBe(204);
  });

  it('an endpoint whose URL is refused by now stays disabled', async () => {
    const owner = await t.signup();
    const endpoint = await endpointFor(owner, ['api_key.revoked']);
    // As if the configuration had allowed a private target when it was made, and no longer does.
    await t.db.asOwner(`UPDATE webhook_endpoints SET status = 'disabled', disabled_at = now(), disabled_reason = 'test', url = 'http://10.0.0.1/hook' WHERE id = $1`, [endpoint.id]);
    const before = await snapshot(t.db);
    const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks/${endpoint.id}/enable`, token: owner.accessToken });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.code).toBe('WEBHOOK_URL_FORBIDDEN');
    expect(await snapshot(t.db)).toEqual(before);
  });

  it('an event committed but not delivered (the process gone before its dispatcher ran) is delivered by the next process', async () => {
    const owner = await t.signup();
    await endpointFor(owner, ['api_key.revoked']);
    const key = await apiKey(owner);
    await revoke(owner, key);
    const before = receiver.received.length;
    // Another process over the same database (its own pool on PostgreSQL): it knows nothing but the rows.
    const next = await createDeps(testConfig(), { clock: t.clock, database: t.db.database, mailer: new MemoryMailer(), logger: pino({ level: 'silent' }) });
    try {
      await next.webhookDispatcher.runOnce();
    } finally {
      await next.keyUsage.stop();
      await next.decisionLog.stop();
      await next.close();
    }
    expect(receiver.received.slice(before).map((r) => [r.body.type, r.verified])).toEqual([['api_key.revoked', true]]);
  });

  it('a claim whose process died is sent again once its lease runs out (at least once)', async () => {
    const owner = await t.signup();
    await endpointFor(owner, ['api_key.revoked']);
    const key = await apiKey(owner);
    await revoke(owner, key);
    // Fanned out and claimed by a process that never records its attempt.
    await t.db.asOwner('SELECT 1');
    const { inSystem } = await import('../../db/scope.js');
    const repo = await import('./repo.js');
    await inSystem(t.deps.database.db, (tx) => repo.fanOut(tx, t.clock.now(), 100));
    const claimed = await inSystem(t.deps.database.db, (tx) => repo.claimDue(tx, {
      now: t.clock.now(), leaseUntil: new Date(t.clock.now().getTime() + 60_000), token: 'dead', limit: 100, after: '', maxTenants: 100_000,
    }));
    expect(claimed.deliveries.length).toBeGreaterThanOrEqual(1);
    const before = receiver.received.length;
    await t.deps.webhookDispatcher.runOnce();
    expect(receiver.received.length).toBe(before);
    t.clock.advance(61_000);
    await t.deps.webhookDispatcher.runOnce();
    expect(receiver.received.slice(before).filter((r) => r.body.data.tenantId === owner.tenantId)).toHaveLength(1);
  });
});

describe('threshold events', () => {
  it('limit.threshold at 50, 80 and 100 % of a meter, once each per period, with {meter, threshold, used, limit}', async () => {
    const owner = await t.signup();
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: (await login(operator)).accessToken, payload: { limits: { runs: 10, concurrentRuns: 1000 } } });
    const key = await apiKey(owner);
    for (let i = 0; i < 12; i++) await t.request({ method: 'POST', url: '/v1/authorize', token: key.key, payload: { operation: 'image_prompt_extraction' } });
    const crossed = await events(owner.tenantId, 'limit.threshold');
    expect(crossed.map((e) => e.data)).toEqual([50, 80, 100].map((threshold) => expect.objectContaining({
      tenantId: owner.tenantId, meter: 'runs', threshold, used: threshold / 10, limit: 10,
    })));
  });

  it('a limit lowered to where the count already stands announces the thresholds it stands at, once each', async () => {
    const owner = await t.signup();
    const op = await login(operator);
    const patch = (limits: Record<string, number | null>) => t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { limits } });
    expect((await patch({ runs: 100, concurrentRuns: 1000 })).statusCode).toBe(200);
    const key = await apiKey(owner);
    for (let i = 0; i < 45; i++) expect((await t.request({ method: 'POST', url: '/v1/authorize', token: key.key, payload: { operation: 'image_prompt_extraction' } })).json().code).toBe('OK');
    expect(await events(owner.tenantId, 'limit.threshold')).toEqual([]);
    // 45 of 50: past 50 % and 80 % at once, with no admission crossing them.
    expect((await patch({ runs: 50 })).statusCode).toBe(200);
    expect((await events(owner.tenantId, 'limit.threshold')).map((e) => e.data)).toEqual([50, 80].map((threshold) => expect.objectContaining({ meter: 'runs', threshold, used: 45, limit: 50 })));
    // Lowered below the count: 100 % at last, the tenant refused with its alert; the same again announces nothing more.
    expect((await patch({ runs: 40 })).statusCode).toBe(200);
    expect((await patch({ runs: 30 })).statusCode).toBe(200);
    expect((await events(owner.tenantId, 'limit.threshold')).map((e) => e.data.threshold)).toEqual([50, 80, 100]);
    expect((await t.request({ method: 'POST', url: '/v1/authorize', token: key.key, payload: { operation: 'image_prompt_extraction' } })).json().code).toBe('LIMIT_EXCEEDED');
  });

  it('a plan and a limit changed in one PATCH announce where the counts stand under both, not under the plan alone', async () => {
    const owner = await t.signup();
    const op = await login(operator);
    const patch = (payload: Record<string, unknown>) => t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload });
    expect((await patch({ plan: 'pro', limits: { concurrentRuns: 1000 } })).statusCode).toBe(200);
    const key = await apiKey(owner);
    for (let i = 0; i < 9; i++) expect((await t.request({ method: 'POST', url: '/v1/authorize', token: key.key, payload: { operation: 'image_prompt_extraction' } })).json().code).toBe('OK');
    // 9 runs: 90 % of free's 10, under 1 % of the 1,000 this PATCH gives with it: nothing to announce.
    expect((await patch({ plan: 'free', limits: { runs: 1000 } })).statusCode).toBe(200);
    expect(await events(owner.tenantId, 'limit.threshold')).toEqual([]);
    // The thresholds are still the tenant's to be told of, once they are crossed.
    expect((await patch({ limits: { runs: 11 } })).statusCode).toBe(200);
    expect((await events(owner.tenantId, 'limit.threshold')).map((e) => e.data)).toEqual([50, 80].map((threshold) => expect.objectContaining({ meter: 'runs', threshold, used: 9, limit: 11 })));
  });

  it('the reference path (no group commit) goes through the same statement and the same rule', async () => {
    const alone = await startTestApp({ patch: (file) => { file.metering.groupCommit = false; } });
    try {
      const owner = await alone.signup();
      const op = await alone.operator();
      await alone.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { limits: { runs: 4, concurrentRuns: 1000 } } });
      const key = (await alone.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k' } })).json().key;
      await Promise.all(Array.from({ length: 8 }, () => alone.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'image_prompt_extraction' } })));
      const rows = await alone.db.asOwner<{ threshold: number }>(`SELECT (data->>'threshold')::int AS threshold FROM webhook_events WHERE tenant_id = $1 AND type = 'limit.threshold' ORDER BY 1`, [owner.tenantId]);
      expect(rows.map((r) => r.threshold)).toEqual([50, 80, 100]);
    } finally {
      await alone.close();
    }
  });

  it('the in-process meter (createTollgate().consume) applies the same rule: a jump past two thresholds announces both, once', async () => {
    const owner = await t.signup();
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: (await login(operator)).accessToken, payload: { limits: { runs: 10 } } });
    expect((await t.deps.metering.consume({ tenantId: owner.tenantId, role: 'member' }, 'runs', 4)).ok).toBe(true);
    expect(await events(owner.tenantId, 'limit.threshold')).toEqual([]);
    expect((await t.deps.metering.consume({ tenantId: owner.tenantId, role: 'member' }, 'runs', 5)).ok).toBe(true);
    expect((await t.deps.metering.consume({ tenantId: owner.tenantId, role: 'member' }, 'runs', 5)).ok).toBe(false);
    expect((await t.deps.metering.consume({ tenantId: owner.tenantId, role: 'member' }, 'runs', 1)).ok).toBe(true);
    expect((await events(owner.tenantId, 'limit.threshold')).map((e) => [e.data.threshold, e.data.used])).toEqual([[50, 9], [80, 9], [100, 10]]);
  });

  it('200 concurrent decisions crossing 80 % produce exactly one limit.threshold event at 80', async () => {
    const owner = await t.signup();
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: (await login(operator)).accessToken, payload: { limits: { runs: 250, concurrentRuns: 100_000 } } });
    await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/credits`, token: (await login(operator)).accessToken, payload: { amount: 10_000, reason: 'load', idempotencyKey: 'load' } });
    const key = await apiKey(owner);
    // 150 used first: the 200 calls cross 80 % (200) and 100 % (250) of 250; 100 of them are admitted.
    for (let i = 0; i < 15; i++) {
      await Promise.all(Array.from({ length: 10 }, () => t.request({ method: 'POST', url: '/v1/authorize', token: key.key, payload: { operation: 'image_prompt_extraction' } })));
    }
    const answers = await Promise.all(Array.from({ length: 200 }, () => t.request({ method: 'POST', url: '/v1/authorize', token: key.key, payload: { operation: 'image_prompt_extraction' } })));
    expect(answers.filter((a) => a.json().allowed).length).toBe(100);
    const crossed = await events(owner.tenantId, 'limit.threshold');
    expect(crossed.map((e) => e.data.threshold)).toEqual([50, 80, 100]);
    expect(crossed.filter((e) => e.data.threshold === 80)).toHaveLength(1);
  });

  it('credits.low once per crossing below the threshold, re-armed only when credits are added', async () => {
    const owner = await t.signup();
    const op = (await login(operator)).accessToken;
    await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op, payload: { limits: { concurrentRuns: 1000 } } });
    // The free plan grants 100 credits; the threshold is 50; clustering holds 10.
    const reserve = async () => (await t.request({ method: 'POST', url: '/v1/authorize', token: owner.accessToken, payload: { operation: 'clustering' } })).json().reservation.id as string;
    const release = (id: string) => t.request({ method: 'POST', url: `/v1/reservations/${id}/release`, token: owner.accessToken });
    const adjust = (amount: number, key: string) => {
      t.clock.advance(1000);
      return t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/credits`, token: op, payload: { amount, reason: 'test', idempotencyKey: key } });
    };
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await reserve());
    expect(await events(owner.tenantId, 'credits.low')).toHaveLength(0);
    ids.push(await reserve());
    const low = await events(owner.tenantId, 'credits.low');
    expect(low.map((e) => e.data)).toEqual([{ tenantId: owner.tenantId, balance: 100, reserved: 60, available: 40, threshold: 50 }]);
    // Settling lower stays below: no second event.
    await t.request({ method: 'POST', url: `/v1/reservations/${ids[0]}/settle`, token: owner.accessToken, payload: { credits: 1 } });
    expect(await events(owner.tenantId, 'credits.low')).toHaveLength(1);
    // Releases bring the available credits back above without adding any: not re-armed, so a
    // tenant whose runs take it below and back is told once, not on every run.
    for (let round = 0; round < 3; round++) {
      for (const id of ids.splice(1)) await release(id);
      for (let i = 0; i < 5; i++) ids.push(await reserve());
    }
    for (const id of ids.splice(1)) await release(id);
    expect(await events(owner.tenantId, 'credits.low')).toHaveLength(1);
    // Spent further below: still the one alert.
    expect((await adjust(-60, 'down')).statusCode).toBe(200);
    expect(await events(owner.tenantId, 'credits.low')).toHaveLength(1);
    // Credits added that bring it back above re-arm it; below again is a second alert.
    expect((await adjust(30, 'up')).statusCode).toBe(200);
    expect(await events(owner.tenantId, 'credits.low')).toHaveLength(1);
    expect((await adjust(-30, 'down-again')).statusCode).toBe(200);
    const again = await events(owner.tenantId, 'credits.low');
    expect(again).toHaveLength(2);
    expect(again[1]!.data).toMatchObject({ balance: 39, available: 39, threshold: 50 });
  });
});

describe('target URLs (SSRF)', () => {
  const refused: [string, string][] = [
    ['http://10.0.0.1/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://169.254.169.254/latest/meta-data', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://127.0.0.2:8080/', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://0.0.0.0:8080/', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://192.168.0.10/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://[::1]/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://[fd00::1]/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://[fe80::1]/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://[::ffff:192.168.1.1]/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://[::127.0.0.1]/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://[::ffff:0:7f00:1]/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://[::ffff:0:a9fe:a9fe]/latest/meta-data', 'WEBHOOK_URL_FORBIDDEN'],
    ['http://100.64.0.1/hook', 'WEBHOOK_URL_FORBIDDEN'],
    ['ftp://127.0.0.1/hook', 'WEBHOOK_URL_INVALID'],
    ['http://user:pass@127.0.0.1/hook', 'WEBHOOK_URL_INVALID'],
    ['not a url', 'WEBHOOK_URL_INVALID'],
    ['http://no-such-host.invalid/hook', 'WEBHOOK_URL_INVALID'],
  ];
  it.each(refused)('%s is refused with %s, and nothing is written', async (target, code) => {
    const owner = await t.signup();
    const before = await snapshot(t.db);
    const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken, payload: { url: target, events: ['credits.low'] } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe(code);
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('secrets', () => {
  it('no whsec_ secret, sealed secret or signature in the logs', async () => {
    const owner = await t.signup();
    const endpoint = await endpointFor(owner, ['api_key.revoked']);
    const key = await apiKey(owner);
    await revoke(owner, key);
    const before = receiver.received.length;
    await t.deps.webhookDispatcher.runOnce();
    const got = receiver.received.slice(before);
    expect(got.length).toBeGreaterThan(0);
    const [stored] = await t.db.asOwner<{ secret_sealed: string }>('SELECT secret_sealed FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
    const text = secretLogs.join('\n');
    expect(secretLogs.length).toBeGreaterThan(0);
    for (const secret of [endpoint.secret, endpoint.secret.slice(6), stored!.secret_sealed, ...got.map((r) => r.signature.slice(3))]) expect(text).not.toContain(secret);
  });
});

describe('retention', () => {
  it('events and their finished deliveries past retentionDays are deleted; an event with a delivery still pending is kept', async () => {
    const owner = await t.signup();
    await endpointFor(owner, ['api_key.revoked']);
    const [done, waiting] = [await apiKey(owner), await apiKey(owner)];
    await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${done.id}`, token: owner.accessToken });
    await t.deps.webhookDispatcher.runOnce();
    receiver.status = 500;
    await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${waiting.id}`, token: owner.accessToken });
    await t.deps.webhookDispatcher.runOnce();
    receiver.status = 200;
    const ofTenant = () => t.db.asOwner<{ id: string; status: string | null }>(
      'SELECT e.id, d.status FROM webhook_events e LEFT JOIN webhook_deliveries d ON d.tenant_id = e.tenant_id AND d.event_id = e.id WHERE e.tenant_id = $1 ORDER BY d.status', [owner.tenantId]);
    expect((await ofTenant()).map((r) => r.status)).toEqual(['pending', 'succeeded']);
    t.clock.advance(29 * 86_400_000);
    await t.deps.webhookDispatcher.prune();
    expect(await ofTenant()).toHaveLength(2);
    t.clock.advance(2 * 86_400_000);
    await t.deps.webhookDispatcher.prune();
    expect((await ofTenant()).map((r) => r.status)).toEqual(['pending']);
  });

  /** `count` events of a fresh tenant (no endpoint), made `daysAgo` days ago and fanned out (to nobody). */
  async function oldEvents(tenantId: string, count: number, daysAgo: number): Promise<void> {
    const at = new Date(t.clock.now().getTime() - daysAgo * 86_400_000).toISOString();
    await t.db.asOwner(`SELECT tollgate_publish($1, 'api_key.revoked', '{}'::jsonb, $2::timestamptz) FROM generate_series(1, $3::int)`, [tenantId, at, count]);
    await t.deps.webhookDispatcher.runOnce();
  }
  const eventsOf = async (tenantId: string) => Number((await t.db.asOwner<{ n: string }>('SELECT count(*) AS n FROM webhook_events WHERE tenant_id = $1', [tenantId]))[0]!.n);

  it('a prune deletes a backlog past the retention a batch at a time, not one batch of it', async () => {
    const owner = await t.signup();
    await oldEvents(owner.tenantId, 2500, 40);
    expect(await eventsOf(owner.tenantId)).toBe(2500);
    await t.deps.webhookDispatcher.prune();
    expect(await eventsOf(owner.tenantId)).toBe(0);
  });

  it('a process prunes at its first tick, then hourly by its clock; a backlog past one prune\'s bound goes at the next ticks', async () => {
    const owner = await t.signup();
    await oldEvents(owner.tenantId, 10_500, 40);
    // A process that has just started, over the same database and clock.
    const next = await createDeps(testConfig(), { clock: t.clock, database: t.db.database, mailer: new MemoryMailer(), logger: pino({ level: 'silent' }) });
    try {
      await next.webhookDispatcher.tick();
      expect(await eventsOf(owner.tenantId)).toBeGreaterThan(0);
      await next.webhookDispatcher.tick();
      expect(await eventsOf(owner.tenantId)).toBe(0);
      // Done with its backlog: nothing more until an hour has passed by the clock.
      await oldEvents(owner.tenantId, 3, 40);
      await next.webhookDispatcher.tick();
      t.clock.advance(HOUR - 1000);
      await next.webhookDispatcher.tick();
      expect(await eventsOf(owner.tenantId)).toBe(3);
      t.clock.advance(1000);
      await next.webhookDispatcher.tick();
      expect(await eventsOf(owner.tenantId)).toBe(0);
    } finally {
      await next.keyUsage.stop();
      await next.decisionLog.stop();
      await next.close();
    }
  });
});

if (onPostgres) {
  describe('several processes', () => {
    it('two dispatchers over one database fan each event out once and deliver each once', async () => {
      const owner = await t.signup();
      await endpointFor(owner, ['api_key.revoked']);
      const keys = await Promise.all(Array.from({ length: 20 }, () => apiKey(owner)));
      for (const key of keys) await revoke(owner, key);
      // Another process: its own pool and caches, the same clock.
      const second = await startSecondInstance(t);
      const before = receiver.received.length;
      try {
        await Promise.all([t.deps.webhookDispatcher.runOnce(), second.deps.webhookDispatcher.runOnce(), t.deps.webhookDispatcher.runOnce()]);
      } finally {
        await second.close();
      }
      const got = receiver.received.slice(before).filter((r) => r.body.data.tenantId === owner.tenantId);
      expect(got).toHaveLength(20);
      expect(new Set(got.map((r) => r.id)).size).toBe(20);
    });
  });
}
