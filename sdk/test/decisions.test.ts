import { describe, expect, it } from 'vitest';
import { BadRequest, Conflict, DenialCode, Forbidden, NotFound, Tollgate, TollgateError, Unauthenticated } from '../src/index.js';
import { apiKey, client, patchTenant, serviceKey, signup } from './fixtures.js';

async function backend(): Promise<{ tg: Tollgate; tenantId: string; userId: string; accessToken: string }> {
  const owner = await signup();
  return { tg: client({ apiKey: await apiKey(owner) }), ...owner };
}

describe('authorize, settle, release against a real server', () => {
  it('answers the decision and reserves; settle charges the quantity and gives the rest back', async () => {
    const { tg, tenantId } = await backend();

    const decision = await tg.authorize('content_generation', { quantity: { words: 1200 } });

    expect(decision).toMatchObject({ allowed: true, code: DenialCode.OK, tenant: { id: tenantId, plan: 'free' }, reservation: { credits: 12 }, bypass: null });
    expect(decision.decisionId).toMatch(/^dec_/);
    expect(decision.requestId).toMatch(/^req_/);
    expect(decision.idempotencyKey).toMatch(/^sdk-[0-9a-f]{32}$/);
    const settled = await tg.settle(decision.reservation!.id, { quantity: { words: 900 } });
    expect(settled.reservation).toMatchObject({ status: 'settled', credits: 12, charged: 9 });
    expect(settled.credits).toEqual({ balance: 991, reserved: 0, available: 991 });
    expect(await tg.credits(tenantId)).toEqual({ balance: 991, reserved: 0, available: 991 });
  });

  it('the same idempotency key answers the first decision again and consumes nothing more', async () => {
    const { tg, tenantId } = await backend();

    const first = await tg.authorize('clustering', { idempotencyKey: 'job-17' });
    const again = await tg.authorize('clustering', { idempotencyKey: 'job-17' });

    expect(again).toMatchObject({ decisionId: first.decisionId, idempotencyKey: 'job-17', replayed: true, reservation: { id: first.reservation!.id } });
    expect((await tg.usage(tenantId)).usage.find((meter) => meter.meter === 'runs')?.used).toBe(1);
    expect((await tg.credits(tenantId)).reserved).toBe(10);
  });

  it('a refusal is a decision with its code, not an error, and reserves nothing', async () => {
    const { tg, tenantId } = await backend();
    await patchTenant(tenantId, { limits: { runs: 1 } });
    await tg.authorize('clustering');

    const refused = await tg.authorize('clustering');

    expect(refused).toMatchObject({ allowed: false, code: DenialCode.LIMIT_EXCEEDED, reservation: null, refusedBy: { check: 'limit', meter: 'runs' } });
    expect((await tg.credits(tenantId)).reserved).toBe(10);
  });

  it.each([
    { code: DenialCode.MODULE_DISABLED, operation: 'clustering', setup: (tenantId: string, token: string) => client({ token }).api.PUT('/v1/tenants/{tenantId}/modules/{module}', { params: { path: { tenantId, module: 'planner' } }, body: { enabled: false } }) },
    { code: DenialCode.NOT_IN_PLAN, operation: 'chat', setup: async () => undefined },
    { code: DenialCode.INSUFFICIENT_CREDITS, operation: 'content_generation', quantity: { words: 200_000 }, setup: async () => undefined },
    { code: DenialCode.TENANT_SUSPENDED, operation: 'clustering', setup: (tenantId: string) => patchTenant(tenantId, { status: 'suspended' }) },
  ])('refuses with $code', async ({ code, operation, quantity, setup }) => {
    const { tg, tenantId, accessToken } = await backend();
    await setup(tenantId, accessToken);

    const refused = await tg.authorize(operation, { quantity });

    expect({ allowed: refused.allowed, code: refused.code }).toEqual({ allowed: false, code });
    expect(refused.message).toEqual(expect.any(String));
  });

  it('release gives the reservation back; a second settle with another amount is an IDEMPOTENCY_CONFLICT', async () => {
    const { tg, tenantId } = await backend();
    const released = await tg.release((await tg.authorize('clustering')).reservation!.id);
    expect(released.reservation).toMatchObject({ status: 'released', charged: 0 });

    const reservation = (await tg.authorize('clustering')).reservation!.id;
    await tg.settle(reservation, { credits: 4 });
    expect((await tg.settle(reservation, { credits: 4 })).replayed).toBe(true);
    const conflict = await tg.settle(reservation, { credits: 5 }).catch((error: unknown) => error);

    expect(conflict).toBeInstanceOf(Conflict);
    expect(conflict).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', status: 409, name: 'Conflict' });
    expect((await tg.credits(tenantId)).balance).toBe(996);
  });

  it('another tenant\'s reservation is the 404 of a missing one', async () => {
    const mine = await backend();
    const theirs = await backend();
    const reservation = (await theirs.tg.authorize('clustering')).reservation!.id;

    const foreign = await mine.tg.settle(reservation).catch((error: unknown) => error);
    const missing = await mine.tg.settle('res_00000000000000000000000000').catch((error: unknown) => error);

    expect(foreign).toBeInstanceOf(NotFound);
    expect(missing).toBeInstanceOf(NotFound);
    expect([(foreign as NotFound).code, (foreign as NotFound).message]).toEqual([(missing as NotFound).code, (missing as NotFound).message]);
  });

  it('errors carry the catalog code, status, message and request id', async () => {
    const { tg } = await backend();

    const invalid = await tg.authorize('clustering', { quantity: { words: -1 } }).catch((error: unknown) => error);
    const unknownKey = await client({ apiKey: 'tg_unknown' }).authorize('clustering').catch((error: unknown) => error);

    expect(invalid).toBeInstanceOf(BadRequest);
    expect(invalid).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, requestId: expect.stringMatching(/^req_/) });
    expect(unknownKey).toBeInstanceOf(Unauthenticated);
    expect(unknownKey).toBeInstanceOf(TollgateError);
    expect(unknownKey).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
    expect(String(unknownKey)).toMatch(/^Unauthenticated: UNAUTHENTICATED: .* · status 401 · request req_/);
  });

  it('a service key acts for a member: the owner passes a full run meter (bypass), and must say for whom', async () => {
    const owner = await signup();
    await patchTenant(owner.tenantId, { limits: { runs: 0 } });
    const tg = client({ apiKey: await serviceKey() });
    const onBehalfOf = { tenantId: owner.tenantId, userId: owner.userId };

    const decision = await tg.authorize('clustering', { onBehalfOf });
    const settled = await tg.settle(decision.reservation!.id, { onBehalfOf });
    const anonymous = await tg.authorize('clustering').catch((error: unknown) => error);

    expect(decision).toMatchObject({ allowed: true, bypass: { reason: 'owner', meter: 'runs' }, principal: { type: 'service', userId: owner.userId, role: 'owner' } });
    expect(settled.reservation.status).toBe('settled');
    expect(anonymous).toBeInstanceOf(Forbidden);
    expect(anonymous).toMatchObject({ code: 'ON_BEHALF_OF_REQUIRED' });
  });

  it('a user token names its tenant per call; the token may be a function, asked before every call', async () => {
    const owner = await signup();
    const team = await unwrapTeam(owner.accessToken);
    let asked = 0;
    const tg = client({ token: () => { asked += 1; return owner.accessToken; } });

    const personal = await tg.authorize('clustering');
    const inTeam = await tg.authorize('clustering', { tenantId: team });

    expect([personal.tenant.id, inTeam.tenant.id]).toEqual([owner.tenantId, team]);
    expect(asked).toBe(2);
  });
});

async function unwrapTeam(token: string): Promise<string> {
  const { data } = await client({ token }).api.POST('/v1/tenants', { body: { name: 'team' } });
  return data!.id;
}
