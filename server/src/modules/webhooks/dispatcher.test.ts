import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSystem } from '../../db/scope.js';
import * as repo from './repo.js';
import { capturedLogger, onPostgres, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { WebhookReceiver } from '../../../test/webhook-receiver.js';

/** The dispatcher's rounds under concurrency: attempts recorded side by side, and many tenants at once. */

let t: TestApp;
let receiver: WebhookReceiver;
let url: string;
let logLines: string[];
/**
 * A receiver that answers /{status}/{ms}/… with that status after that many milliseconds,
 * and /hold/… (200) only once the test lets go (`release`); what it answered, in order.
 */
let slow: Server;
let slowUrl: string;
const slowAnswers: { path: string; at: number }[] = [];
let held: (() => void)[] = [];
let holding = true;
function release(): void {
  holding = false;
  for (const answer of held) answer();
  held = [];
}

beforeAll(async () => {
  const logs = capturedLogger();
  logLines = logs.lines;
  t = await startTestApp({
    logger: logs.logger,
    patch: (file) => {
      file.webhooks.concurrency = 16;
      file.webhooks.timeoutSeconds = 10;
      file.webhooks.disableAfterSeconds = 60;
      file.webhooks.disableAfterFailures = 1;
      file.webhooks.retryBaseSeconds = 1;
      file.webhooks.retryMaxSeconds = 1;
    },
  });
  receiver = new WebhookReceiver(t.clock);
  url = await receiver.start();
  slow = createServer((req, res) => {
    req.resume();
    const [, status, ms] = (req.url ?? '').split('/');
    const answer = () => {
      slowAnswers.push({ path: req.url ?? '', at: Date.now() });
      res.statusCode = status === 'hold' ? 200 : Number(status);
      res.end();
    };
    if (status === 'hold' && holding) held.push(answer);
    else setTimeout(answer, status === 'hold' ? 0 : Number(ms));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
});
afterAll(async () => {
  release();
  await t.close();
  await receiver.close();
  slow.closeAllConnections();
  await new Promise((resolve) => slow.close(resolve));
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

/** `n` api_key.revoked events of the tenant's, published as its transactions do. */
async function publish(tenantId: string, n: number): Promise<void> {
  await t.db.asOwner(`SELECT tollgate_publish($1, 'api_key.revoked', '{}'::jsonb, $2::timestamptz) FROM generate_series(1, $3::int)`,
    [tenantId, t.clock.now().toISOString(), n]);
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

/** `n` events of `first`'s fanned out, so that they are due first; then `m` of `then`'s published. */
async function dueFirst(first: SignedUp, n: number, then: SignedUp, m: number): Promise<void> {
  await publish(first.tenantId, n);
  await inSystem(t.deps.database.db, (tx) => repo.fanOut(tx, t.clock.now(), 100));
  t.clock.advance(1);
  await publish(then.tenantId, m);
}

/** A round in which /hold/ receivers answer only once `done` holds of the answers so far (or 8 s passed); its answers. */
async function roundHeldUntil(done: (answers: typeof slowAnswers) => boolean): Promise<typeof slowAnswers> {
  const from = slowAnswers.length;
  holding = true;
  const round = t.deps.webhookDispatcher.runOnce();
  try {
    // Well within timeoutSeconds (10): the held attempts are still out.
    await until(async () => done(slowAnswers.slice(from)), 8000);
  } finally {
    release();
    await round;
  }
  return slowAnswers.slice(from);
}

describe('one tenant\'s slow endpoints and the others\' events', () => {
  it('tenants are claimed in turns: a backlog due first gets its turn, not every place, and another tenant\'s delivery goes out beside it', async () => {
    const a = await t.signup();
    const b = await t.signup();
    await endpointFor(a, `${slowUrl}/hold/turns-a`);
    await endpointFor(b, `${slowUrl}/200/0/turns-b`);
    // A's 30 deliveries are due before B's one; A's receiver answers none until B's is answered.
    await dueFirst(a, 30, b, 1);
    const answers = await roundHeldUntil((so) => so.some((x) => x.path.endsWith('/turns-b')));
    expect(answers).toHaveLength(31);
  });

  it('an event committed while a tenant\'s slow endpoints keep the round busy is fanned out and delivered in that round', async () => {
    const a = await t.signup();
    const b = await t.signup();
    // 5 endpoints that take 200 ms each to fail, 8 events: 40 slow attempts, 16 at a time.
    for (let i = 0; i < 5; i++) await endpointFor(a, `${slowUrl}/500/200/a${i}`);
    await endpointFor(b);
    receiver.status = 200;
    await publish(a.tenantId, 8);
    const before = receiver.received.length;
    const answered = slowAnswers.length;
    const round = t.deps.webhookDispatcher.runOnce();
    // B's event commits once A's first attempts are out.
    await until(async () => slowAnswers.length > answered || receiver.received.length > before);
    await publish(b.tenantId, 1);
    const result = await round;
    const forB = receiver.received.slice(before).filter((r) => r.body.data.tenantId === b.tenantId);
    expect(forB, JSON.stringify(result)).toHaveLength(1);
    expect(result.attempted).toBe(41);
  });

  it('attempts do not wait for the slowest of a batch: a receiver that does not answer does not hold back the deliveries claimed beside it', async () => {
    const c = await t.signup();
    const d = await t.signup();
    await endpointFor(c, `${slowUrl}/hold/c`);
    await endpointFor(d, `${slowUrl}/200/0/d`);
    // C's event is due first, so that it is claimed first; then 20 of D's, answered at once.
    await dueFirst(c, 1, d, 20);
    const answers = await roundHeldUntil((so) => so.filter((x) => x.path.endsWith('/d')).length === 20);
    expect(answers.map((x) => x.path).filter((path) => path === '/hold/c' || path.endsWith('/d')).at(-1)).toBe('/hold/c');
  });
});
