import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot, startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

let serial = 0;
async function hold(who: SignedUp, credits = 10): Promise<string> {
  const held = await t.deps.metering.reserve({ tenantId: who.tenantId, role: 'owner' }, { credits, idempotencyKey: `credit-routes-${serial++}` });
  if (!held.ok) throw new Error('no reservation');
  return held.value.reservation.id;
}

const close = (who: SignedUp, id: string, how: 'settle' | 'release', payload?: string, headers: Record<string, string> = {}) =>
  t.request({ method: 'POST', url: `/v1/reservations/${id}/${how}`, token: who.accessToken, payload, headers });
const JSON_TYPE = { 'content-type': 'application/json' };

describe('settle with the body left out (API.md: {quantity?, credits?})', () => {
  it('no body, an empty JSON body and {} all charge the whole reservation', async () => {
    const owner = await t.signup();
    for (const [payload, headers] of [[undefined, {}], ['', JSON_TYPE], [' \n', JSON_TYPE], ['{}', JSON_TYPE]] as const) {
      const res = await close(owner, await hold(owner), 'settle', payload, headers);
      expect([JSON.stringify(payload), res.statusCode, res.json().reservation]).toEqual([JSON.stringify(payload), 200, expect.objectContaining({ status: 'settled', credits: 10, charged: 10 })]);
    }
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json()).toEqual({ balance: 60, reserved: 0, available: 60 });
  });

  it('a body that is not an object is still VALIDATION_FAILED, and writes nothing', async () => {
    const owner = await t.signup();
    const id = await hold(owner);
    const before = await snapshot(t.db);
    for (const payload of ['[]', '"x"', '3', 'null', 'true', '{"credits":"3"}', '{"charge":3}']) {
      const res = await close(owner, id, 'settle', payload, JSON_TYPE);
      expect([payload, res.statusCode, res.json().error.code]).toEqual([payload, 400, 'VALIDATION_FAILED']);
    }
    expect(await snapshot(t.db)).toEqual(before);
  });
});
