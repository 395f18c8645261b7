import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLogger, onPostgres, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { WebhookReceiver } from '../../../test/webhook-receiver.js';

/** The dispatcher's rounds under concurrency: attempts recorded side by side, and many tenants at once. */

let t: TestApp;
let receiver: WebhookReceiver;
let url: string;
let logLines: string[];

beforeAll(async () => {
  const logs = capturedLogger();
  logLines = logs.lines;
  t = await startTestApp({
    logger: logs.logger,
    patch: (file) => {
      file.webhooks.concurrency = 16;
      file.webhooks.disableAfterSeconds = 60;
      file.webhooks.disableAfterFailures = 1;
      file.webhooks.retryBaseSeconds = 1;
      file.webhooks.retryMaxSeconds = 1;
    },
  });
  receiver = new WebhookReceiver(t.clock);
  url = await receiver.start();
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

async function endpointFor(owner: SignedUp, target = url): Promise<{ id: string }> {
  const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken, payload: { url: target, events: ['api_key.revoked'] } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

/** An api_key.revoked event of the tenant's, `n` times. */
async function revokeKeys(owner: SignedUp, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: `k${i}` } })).json();
    const res = await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/api-keys/${key.id}`, token: owner.accessToken });
    expect(res.statusCode, res.body).toBeLessThan(300);
  }
}

/** Resolves once `check` holds (polled), or fails after `ms`. */
async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(!onPostgres)('attempts recorded side by side (PostgreSQL: a connection each)', () => {
  it('the attempt that disables an endpoint and its own concurrent deliveries\' attempts do not deadlock: disabled once, every delivery failed, no claim left', async () => {
    const owner = await t.signup();
    const endpoint = await endpointFor(owner);
    receiver.status = 500;
    // One failure starts the endpoint's run of failures…
    await revokeKeys(owner, 1);
    await t.deps.webhookDispatcher.runOnce();
    // …and past disableAfterSeconds, 16 deliveries fail at once: the first recorded disables
    // it. The endpoint's row is held meanwhile, so that every attempt is recording together.
    await revokeKeys(owner, 16);
    t.clock.advance(120_000);
    const errorsBefore = logLines.filter((l) => l.includes('could not be recorded')).length;
    const holder = postgres(t.db.url!, { max: 1, onnotice: () => undefined });
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => { locked = resolve; });
    const held = holder.begin(async (tx) => {
      await tx`SELECT id FROM webhook_endpoints WHERE id = ${endpoint.id} FOR NO KEY UPDATE`;
      locked();
      await released;
    });
    let round: ReturnType<typeof t.deps.webhookDispatcher.runOnce> | undefined;
    try {
      await isLocked;
      round = t.deps.webhookDispatcher.runOnce();
      const waiting = async () => (await t.db.asOwner<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))[0]!.n;
      await until(async () => await waiting() >= 8);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      release();
      await held;
      await holder.end();
    }
    const { attempted } = await round;
    receiver.status = 200;
    expect(attempted).toBeGreaterThanOrEqual(16);
    expect(logLines.filter((l) => l.includes('could not be recorded')).slice(errorsBefore)).toEqual([]);
    const [row] = await t.db.asOwner<{ status: string }>('SELECT status FROM webhook_endpoints WHERE id = $1', [endpoint.id]);
    expect(row!.status).toBe('disabled');
    const deliveries = await t.db.asOwner<{ status: string; leased: number; n: number }>(
      'SELECT status, count(lease_token)::int AS leased, count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY status', [endpoint.id]);
    expect(deliveries).toEqual([{ status: 'failed', leased: 0, n: 17 }]);
    const audit = await t.db.asOwner('SELECT id FROM audit_log WHERE tenant_id = $1 AND action = $2', [owner.tenantId, 'webhook.disable']);
    expect(audit).toHaveLength(1);
  });
});
