import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeps } from '../../deps.js';
import { newId } from '../../lib/ids.js';
import { MemoryMailer } from '../../lib/mailer.js';
import { Sealer } from '../../lib/secrets.js';
import { snapshot, startTestApp, TEST_SECRET, testConfig, type SignedUp, type TestApp } from '../../../test/harness.js';
import { WebhookReceiver, type Received } from '../../../test/webhook-receiver.js';

/** Managing endpoints: how many a tenant may have, and rotating their secrets. */

const CAP = 3;
const GRACE_SECONDS = 3600;

let t: TestApp;
let receiver: WebhookReceiver;
let url: string;

beforeAll(async () => {
  t = await startTestApp({ patch: (file) => { file.webhooks.maxEndpointsPerTenant = CAP; file.webhooks.secretGraceSeconds = GRACE_SECONDS; } });
  receiver = new WebhookReceiver(t.clock);
  url = await receiver.start();
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

const create = (owner: SignedUp, path = 'h') => t.request({
  method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken, payload: { url: `${url}/${path}`, events: ['api_key.revoked'] },
});

describe('endpoints per tenant', () => {
  it('a tenant at webhooks.maxEndpointsPerTenant is refused 409 WEBHOOK_LIMIT_REACHED, and nothing is written; deleting one makes room', async () => {
    const owner = await t.signup();
    const made: string[] = [];
    for (let i = 0; i < CAP; i++) {
      const res = await create(owner, `h${i}`);
      expect(res.statusCode, res.body).toBe(201);
      made.push(res.json().id);
    }
    const before = await snapshot(t.db);
    const refused = await create(owner, 'one-more');
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('WEBHOOK_LIMIT_REACHED');
    expect(await snapshot(t.db)).toEqual(before);
    // Another tenant's count is its own.
    expect((await create(await t.signup())).statusCode).toBe(201);
    // Disabled endpoints count too; a deleted one does not.
    await t.db.asOwner(`UPDATE webhook_endpoints SET status = 'disabled' WHERE id = $1`, [made[0]]);
    expect((await create(owner, 'while-one-is-disabled')).statusCode).toBe(409);
    const del = await t.request({ method: 'DELETE', url: `/v1/tenants/${owner.tenantId}/webhooks/${made[0]}`, token: owner.accessToken });
    expect(del.statusCode).toBe(204);
    expect((await create(owner, 'after-delete')).statusCode).toBe(201);
  });

  it('concurrent creates do not pass the cap together', async () => {
    const owner = await t.signup();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => create(owner, `c${i}`)));
    expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(CAP);
    expect(answers.filter((r) => r.statusCode === 409)).toHaveLength(10 - CAP);
    const [row] = await t.db.asOwner<{ n: number }>('SELECT count(*)::int AS n FROM webhook_endpoints WHERE owner_tenant_id = $1', [owner.tenantId]);
    expect(row!.n).toBe(CAP);
  });

  it('operators\' endpoints (every tenant\'s events) are not counted against any tenant', async () => {
    const operator = await t.operator();
    const made: string[] = [];
    for (let i = 0; i < CAP + 1; i++) {
      const res = await t.request({ method: 'POST', url: '/v1/admin/webhooks', token: operator.accessToken, payload: { url: `${url}/op${i}`, events: ['api_key.revoked'] } });
      expect(res.statusCode, res.body).toBe(201);
      made.push(res.json().id);
    }
    expect((await create(await t.signup())).statusCode).toBe(201);
    // Every tenant's events would go to them: gone before the next tests count deliveries.
    for (const id of made) expect((await t.request({ method: 'DELETE', url: `/v1/admin/webhooks/${id}`, token: operator.accessToken })).statusCode).toBe(204);
  });
});

/** api_key.revoked of the tenant's, published as its transactions do, and a round: what its endpoint at …/`path` got. */
async function deliverOne(tenantId: string, path: string): Promise<Received> {
  await t.db.asOwner(`SELECT tollgate_publish($1, 'api_key.revoked', '{}'::jsonb, $2::timestamptz)`, [tenantId, t.clock.now().toISOString()]);
  const before = receiver.received.length;
  await t.deps.webhookDispatcher.runOnce();
  const got = receiver.received.slice(before).filter((r) => r.body.data.tenantId === tenantId);
  expect(got, path).toHaveLength(1);
  return got[0]!;
}

/** The webhook-signature a secret gives the message received (Standard Webhooks' own signing). */
const signedBy = (secret: string, r: Received) => new Webhook(secret).sign(r.id, new Date(Number(r.timestamp) * 1000), JSON.stringify(r.body));

describe('secret rotation', () => {
  it('a new secret is returned once; for secretGraceSeconds each delivery is signed with both, then with the new one only; audited without a secret', async () => {
    const owner = await t.signup();
    const made = (await create(owner, 'rotating')).json();
    const old = made.secret as string;
    expect((await deliverOne(owner.tenantId, 'before')).signature).toBe(signedBy(old, receiver.received.at(-1)!));
    const rotatedAt = t.clock.now();
    const res = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks/${made.id}/rotate-secret`, token: owner.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    const rotated = res.json();
    expect(rotated).toMatchObject({ id: made.id, url: made.url, status: 'enabled', previousSecretExpiresAt: new Date(rotatedAt.getTime() + GRACE_SECONDS * 1000).toISOString() });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(old);
    // Never shown again: the list has no secret.
    const [listed] = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/webhooks`, token: owner.accessToken })).json().webhooks;
    expect(listed).not.toHaveProperty('secret');
    expect(listed.previousSecretExpiresAt).toBe(rotated.previousSecretExpiresAt);
    // In the grace: both signatures, the new one first; a receiver with either secret verifies it.
    receiver.secret = old;
    const during = await deliverOne(owner.tenantId, 'during');
    expect(during.signature.split(' ')).toEqual([signedBy(rotated.secret, during), signedBy(old, during)]);
    expect(during.verified).toBe(true);
    // After it: the new one only.
    t.clock.advance(GRACE_SECONDS * 1000 + 1000);
    receiver.secret = rotated.secret;
    const after = await deliverOne(owner.tenantId, 'after');
    expect(after.signature).toBe(signedBy(rotated.secret, after));
    expect(after.verified).toBe(true);
    // The rotated-out secret is dropped once its grace is over.
    await t.deps.webhookDispatcher.prune();
    const [row] = await t.db.asOwner<{ previous_secret_sealed: string | null }>('SELECT previous_secret_sealed FROM webhook_endpoints WHERE id = $1', [made.id]);
    expect(row!.previous_secret_sealed).toBeNull();
    const audit = await t.db.asOwner<{ actor_type: string; data: unknown }>('SELECT actor_type, data FROM audit_log WHERE tenant_id = $1 AND action = $2', [owner.tenantId, 'webhook.rotate_secret']);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor_type).toBe('user');
    for (const secret of [old, rotated.secret]) expect(JSON.stringify(audit)).not.toContain(secret.slice(6));
  });

  it('another tenant naming the endpoint gets the 404 of a missing one, and nothing is written; an operator rotates an operators\' endpoint', async () => {
    const owner = await t.signup();
    const made = (await create(owner, 'theirs')).json();
    const other = await t.signup();
    const before = await snapshot(t.db);
    for (const path of [`/v1/tenants/${other.tenantId}/webhooks/${made.id}/rotate-secret`, `/v1/tenants/${owner.tenantId}/webhooks/${newId('whk', Date.now())}/rotate-secret`]) {
      const res = await t.request({ method: 'POST', url: path, token: path.includes(other.tenantId) ? other.accessToken : owner.accessToken });
      expect(res.statusCode, path).toBe(404);
      expect(res.json().error.code).toBe('WEBHOOK_NOT_FOUND');
    }
    expect(await snapshot(t.db)).toEqual(before);
    const operator = await t.operator();
    const ops = (await t.request({ method: 'POST', url: '/v1/admin/webhooks', token: operator.accessToken, payload: { url: `${url}/ops-rotating`, events: ['api_key.revoked'] } })).json();
    expect((await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks/${ops.id}/rotate-secret`, token: owner.accessToken })).statusCode).toBe(404);
    const res = await t.request({ method: 'POST', url: `/v1/admin/webhooks/${ops.id}/rotate-secret`, token: operator.accessToken });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().secret).not.toBe(ops.secret);
    expect((await t.request({ method: 'DELETE', url: `/v1/admin/webhooks/${ops.id}`, token: operator.accessToken })).statusCode).toBe(204);
  });
});

// Last in the file: afterwards the suite's own app (the old master secret only) can no longer open what is stored.
describe('rotating the master secret', () => {
  it('`secrets reseal` seals a rotated-out secret in its grace under the new master secret too', async () => {
    const owner = await t.signup();
    const made = (await create(owner, 'resealed')).json();
    const rotated = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/webhooks/${made.id}/rotate-secret`, token: owner.accessToken })).json();
    const NEW_SECRET = 'the-new-master-secret-0123456789abcdef';
    const rotating = await createDeps(testConfig(undefined, { TOLLGATE_SECRET_KEY: NEW_SECRET, TOLLGATE_SECRET_KEY_PREVIOUS: TEST_SECRET }), {
      clock: t.clock, database: t.db.database, mailer: new MemoryMailer(), logger: pino({ level: 'silent' }),
    });
    try {
      expect((await rotating.resealSecrets()).webhooks).toBeGreaterThanOrEqual(2);
    } finally {
      await rotating.close();
    }
    const [row] = await t.db.asOwner<{ secret_sealed: string; previous_secret_sealed: string }>(
      'SELECT secret_sealed, previous_secret_sealed FROM webhook_endpoints WHERE id = $1', [made.id]);
    const sealer = new Sealer('webhook-secrets', NEW_SECRET);
    expect([sealer.unseal(row!.secret_sealed, made.id), sealer.unseal(row!.previous_secret_sealed, made.id)]).toEqual([rotated.secret, made.secret]);
  });
});
