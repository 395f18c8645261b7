import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { WebhookReceiver } from '../../../test/webhook-receiver.js';

/** Managing endpoints: how many a tenant may have. */

const CAP = 3;

let t: TestApp;
let receiver: WebhookReceiver;
let url: string;

beforeAll(async () => {
  t = await startTestApp({ patch: (file) => { file.webhooks.maxEndpointsPerTenant = CAP; } });
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
    for (let i = 0; i < CAP + 1; i++) {
      const res = await t.request({ method: 'POST', url: '/v1/admin/webhooks', token: operator.accessToken, payload: { url: `${url}/op${i}`, events: ['api_key.revoked'] } });
      expect(res.statusCode, res.body).toBe(201);
    }
    expect((await create(await t.signup())).statusCode).toBe(201);
  });
});
