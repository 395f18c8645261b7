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

describe('a service key closes the runs it opened the way it opened them (onBehalfOf in the body, as on /v1/authorize)', () => {
  let op: SignedUp;
  let service: string;
  beforeAll(async () => {
    op = await t.operator();
    service = (await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: op.accessToken, payload: { name: 'backend' } })).json().key as string;
  });
  const authorize = async (onBehalfOf: { tenantId: string; userId: string }) => {
    const res = await t.request({ method: 'POST', url: '/v1/authorize', token: service, payload: { operation: 'clustering', onBehalfOf } });
    expect(res.json(), res.body).toMatchObject({ allowed: true });
    return res.json().reservation.id as string;
  };
  const closeAs = (token: string, id: string, how: 'settle' | 'release', payload?: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.request({ method: 'POST', url: `/v1/reservations/${id}/${how}`, token, payload, headers });

  it('settle and release take the same onBehalfOf; without one, or with the header, as before', async () => {
    const owner = await t.signup();
    const acting = { tenantId: owner.tenantId, userId: owner.userId };
    const settled = await closeAs(service, await authorize(acting), 'settle', { credits: 1, onBehalfOf: acting });
    expect([settled.statusCode, settled.json().reservation?.status, settled.json().reservation?.charged], settled.body).toEqual([200, 'settled', 1]);
    // The same settle again is a replay: onBehalfOf says who asks, not what is charged.
    const again = await closeAs(service, settled.json().reservation.id, 'settle', { credits: 1 }, { 'tollgate-on-behalf-of': `${owner.tenantId}:${owner.userId}` });
    expect([again.statusCode, again.json().replayed]).toEqual([200, true]);
    const released = await closeAs(service, await authorize(acting), 'release', { onBehalfOf: acting });
    expect([released.statusCode, released.json().reservation?.status], released.body).toEqual([200, 'released']);
    const bare = await closeAs(service, await authorize(acting), 'settle', { onBehalfOf: acting });
    expect([bare.statusCode, bare.json().reservation?.charged], bare.body).toEqual([200, bare.json().reservation?.credits]);

    const open = await authorize(acting);
    const before = await snapshot(t.db);
    for (const how of ['settle', 'release'] as const) {
      const none = await closeAs(service, open, how);
      expect([how, none.statusCode, none.json().error.code]).toEqual([how, 403, 'ON_BEHALF_OF_REQUIRED']);
    }
    expect(await snapshot(t.db)).toEqual(before);
    const byHeader = await closeAs(service, open, 'release', undefined, { 'tollgate-on-behalf-of': `${owner.tenantId}:${owner.userId}` });
    expect([byHeader.statusCode, byHeader.json().reservation?.status]).toEqual([200, 'released']);
  });

  it('the refusals /v1/authorize answers: another credential naming a member, a member who is not one, a header naming another; nothing written', async () => {
    const owner = await t.signup();
    const stranger = await t.signup();
    const acting = { tenantId: owner.tenantId, userId: owner.userId };
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key as string;
    const open = await authorize(acting);
    const cases: [string, string, Record<string, unknown>, Record<string, string>][] = [
      ['a user', owner.accessToken, { onBehalfOf: acting }, {}],
      ['an API key', key, { onBehalfOf: acting }, {}],
      ['a service key naming a non-member', service, { onBehalfOf: { tenantId: owner.tenantId, userId: stranger.userId } }, {}],
      ['a header naming another', service, { onBehalfOf: acting }, { 'tollgate-on-behalf-of': `${stranger.tenantId}:${stranger.userId}` }],
    ];
    const before = await snapshot(t.db);
    for (const [who, token, body, headers] of cases) {
      const asked = await t.request({ method: 'POST', url: '/v1/authorize', token, payload: { operation: 'clustering', ...body }, headers });
      for (const how of ['settle', 'release'] as const) {
        const res = await closeAs(token, open, how, body, headers);
        expect([who, how, res.statusCode, res.json().error?.code]).toEqual([who, how, asked.statusCode, asked.json().error?.code]);
        expect(res.statusCode).toBeGreaterThanOrEqual(400);
      }
    }
    expect(await snapshot(t.db)).toEqual(before);
  });
});

describe('GET /v1/reservations/{id}: one reservation, for whoever may settle it', () => {
  const read = (token: string, id: string, headers: Record<string, string> = {}) =>
    t.request({ method: 'GET', url: `/v1/reservations/${id}`, token, headers });

  it('held until closed, then settled with what was charged, or released; reading writes nothing', async () => {
    const owner = await t.signup();
    const [settled, released] = [await hold(owner), await hold(owner)];
    const before = await snapshot(t.db);
    const held = await read(owner.accessToken, settled);
    expect([held.statusCode, held.json()], held.body).toEqual([200, expect.objectContaining({ id: settled, status: 'held', credits: 10, charged: 0, resolvedAt: null })]);
    expect(await snapshot(t.db)).toEqual(before);

    await close(owner, settled, 'settle', JSON.stringify({ credits: 4 }), JSON_TYPE);
    await close(owner, released, 'release');
    expect((await read(owner.accessToken, settled)).json()).toMatchObject({ status: 'settled', credits: 10, charged: 4, resolvedAt: expect.any(String) });
    expect((await read(owner.accessToken, released)).json()).toMatchObject({ status: 'released', charged: 0 });
  });

  it('one held past its expiresAt reads as expired (expired as it is read, as a settle would), and a settle after it is refused', async () => {
    const owner = await t.signup();
    const held = await t.deps.metering.reserve({ tenantId: owner.tenantId, role: 'owner' }, { credits: 10, idempotencyKey: `credit-routes-${serial++}`, ttlSeconds: 1 });
    if (!held.ok) throw new Error('no reservation');
    const id = held.value.reservation.id;
    t.clock.advance(1_000);

    expect((await read(owner.accessToken, id)).json()).toMatchObject({ status: 'expired', charged: 0, resolvedAt: expect.any(String) });
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/credits`, token: owner.accessToken })).json()).toMatchObject({ reserved: 0 });
    const late = await close(owner, id, 'settle');
    expect([late.statusCode, late.json().error.code]).toEqual([409, 'RESERVATION_EXPIRED']);
  });

  it('readable by the tenant\'s API key that may authorize, and by a service key naming the member in the header; not without it', async () => {
    const owner = await t.signup();
    const op = await t.operator();
    const service = (await t.request({ method: 'POST', url: '/v1/admin/service-keys', token: op.accessToken, payload: { name: 'reader' } })).json().key as string;
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'k', scopes: ['authorize'] } })).json().key as string;
    const id = await hold(owner);

    expect((await read(key, id)).json()).toMatchObject({ id, status: 'held' });
    expect((await read(service, id, { 'tollgate-on-behalf-of': `${owner.tenantId}:${owner.userId}` })).json()).toMatchObject({ id, status: 'held' });
    const bare = await read(service, id);
    expect([bare.statusCode, bare.json().error.code]).toEqual([403, 'ON_BEHALF_OF_REQUIRED']);
    const unknown = await read(owner.accessToken, 'res_00000000000000000000000000');
    expect([unknown.statusCode, unknown.json().error.code]).toEqual([404, 'RESERVATION_NOT_FOUND']);
  });
});
