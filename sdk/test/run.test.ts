import { describe, expect, it } from 'vitest';
import { AlreadyResolved, Denied, DenialCode, Tollgate, TollgateError } from '../src/index.js';
import { apiKey, client, patchTenant, serviceKey, signup } from './fixtures.js';

async function backend(): Promise<{ tg: Tollgate; tenantId: string }> {
  const owner = await signup();
  return { tg: client({ apiKey: await apiKey(owner) }), tenantId: owner.tenantId };
}

describe('run()', () => {
  it('settles what the work reported and resolves with its value, the decision and the settlement', async () => {
    const { tg, tenantId } = await backend();

    const outcome = await tg.run('content_generation', { quantity: { words: 1200 } }, async (run) => {
      expect(run.decision.allowed).toBe(true);
      run.report({ quantity: { words: 2000 } });
      run.report({ quantity: { words: 900 } });
      return 'the article';
    });

    expect(outcome.value).toBe('the article');
    expect(outcome.decision.reservation?.credits).toBe(12);
    expect(outcome.settlement?.reservation).toMatchObject({ status: 'settled', charged: 9 });
    expect(await tg.credits(tenantId)).toEqual({ balance: 991, reserved: 0, available: 991 });
  });

  it('settles the whole reservation when the work reported nothing: a forgotten report does not make runs free', async () => {
    const { tg, tenantId } = await backend();

    const outcome = await tg.run('clustering', () => 42);

    expect(outcome.settlement?.reservation).toMatchObject({ status: 'settled', charged: 10 });
    expect((await tg.credits(tenantId)).balance).toBe(990);
  });

  it('charges reported credits', async () => {
    const { tg } = await backend();

    const outcome = await tg.run('clustering', (run) => { run.report({ credits: 3 }); });

    expect(outcome.settlement?.reservation.charged).toBe(3);
  });

  it('releases the reservation when the work throws, and rethrows its error', async () => {
    const { tg, tenantId } = await backend();
    const failure = new Error('the model timed out');
    let reservationId: string | null = null;

    const thrown = await tg.run('clustering', async (run) => {
      reservationId = run.reservationId;
      throw failure;
    }).catch((error: unknown) => error);

    expect(thrown).toBe(failure);
    expect(await tg.credits(tenantId)).toEqual({ balance: 1000, reserved: 0, available: 1000 });
    expect((await tg.release(reservationId!)).reservation).toMatchObject({ status: 'released', charged: 0 });
  });

  it('a refusal throws Denied with the code and the decision, before the work runs; Denied is no TollgateError', async () => {
    const { tg, tenantId } = await backend();
    await patchTenant(tenantId, { limits: { runs: 0 } });
    let ran = false;

    const denied = await tg.run('clustering', () => { ran = true; }).catch((error: unknown) => error);

    expect(ran).toBe(false);
    expect(denied).toBeInstanceOf(Denied);
    expect(denied).not.toBeInstanceOf(TollgateError);
    expect(denied).toMatchObject({ code: DenialCode.LIMIT_EXCEEDED, decision: { allowed: false, refusedBy: { meter: 'runs' } } });
    expect((await tg.credits(tenantId)).reserved).toBe(0);
  });

  it('a release that fails does not hide the work\'s error', async () => {
    const { tg, tenantId } = await backend();
    const failure = new Error('the work failed');

    // The reservation is released from under the run, so its own release meets a 409.
    const thrown = await tg.run('clustering', async (run) => {
      await tg.settle(run.reservationId!, { credits: 1 });
      throw failure;
    }).catch((error: unknown) => error);

    expect(thrown).toBe(failure);
    expect((await tg.credits(tenantId)).balance).toBe(999);
  });

  it('a replay of a settled run (the same idempotency key) throws AlreadyResolved with what was charged, before the work runs: one charge buys one run', async () => {
    const { tg, tenantId } = await backend();
    const options = { quantity: { words: 1200 }, idempotencyKey: 'job-42' };
    let ran = 0;
    const first = await tg.run('content_generation', options, (run) => { ran++; run.report({ quantity: { words: 900 } }); });
    expect([first.decision.replayed ?? false, first.settlement?.reservation.charged]).toEqual([false, 9]);

    for (let again = 0; again < 3; again++) {
      const thrown = await tg.run('content_generation', options, () => { ran++; }).catch((error: unknown) => error);
      expect(thrown).toBeInstanceOf(AlreadyResolved);
      expect(thrown).not.toBeInstanceOf(TollgateError);
      expect(thrown).toMatchObject({ status: 'settled', charged: 9, reservation: { id: first.settlement?.reservation.id }, decision: { replayed: true } });
    }

    expect(ran).toBe(1);
    expect((await tg.credits(tenantId)).balance).toBe(991);
    expect((await tg.usage(tenantId)).usage.find((meter) => meter.meter === 'runs')?.used).toBe(1);
  });

  it('a replay of a released run throws AlreadyResolved (released, nothing charged) before the work runs, rather than doing work it cannot settle', async () => {
    const { tg, tenantId } = await backend();
    const options = { idempotencyKey: 'job-43' };
    await tg.run('clustering', options, () => { throw new Error('the model timed out'); }).catch(() => undefined);
    let ran = false;

    const thrown = await tg.run('clustering', options, () => { ran = true; }).catch((error: unknown) => error);

    expect(ran).toBe(false);
    expect(thrown).toBeInstanceOf(AlreadyResolved);
    expect(thrown).toMatchObject({ status: 'released', charged: 0 });
    expect(String((thrown as Error).message)).toMatch(/new idempotency key/);
    expect(await tg.credits(tenantId)).toEqual({ balance: 1000, reserved: 0, available: 1000 });
  });

  it('a replay whose reservation is still held (the earlier attempt never closed it) resumes: the work runs once and settles it', async () => {
    const { tg, tenantId } = await backend();
    // The earlier attempt: admitted, then the process died before the work finished.
    const earlier = await tg.authorize('clustering', { idempotencyKey: 'job-44' });

    const outcome = await tg.run('clustering', { idempotencyKey: 'job-44' }, (run) => {
      expect([run.resumed, run.reservationId]).toEqual([true, earlier.reservation?.id]);
      run.report({ credits: 4 });
      return 'done';
    });

    expect([outcome.value, outcome.decision.replayed, outcome.settlement?.reservation]).toEqual(['done', true, expect.objectContaining({ status: 'settled', charged: 4 })]);
    expect(await tg.credits(tenantId)).toEqual({ balance: 996, reserved: 0, available: 996 });
  });

  it('a service key\'s replay reads the reservation for the member it acts for, as it settled it', async () => {
    const owner = await signup();
    const backendKey = client({ apiKey: await serviceKey() });
    const options = { onBehalfOf: { tenantId: owner.tenantId, userId: owner.userId }, idempotencyKey: 'job-45' };
    await backendKey.run('clustering', options, (run) => { run.report({ credits: 2 }); });

    const thrown = await backendKey.run('clustering', options, () => undefined).catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(AlreadyResolved);
    expect(thrown).toMatchObject({ status: 'settled', charged: 2 });
  });

  it('report() needs a quantity or credits', async () => {
    const { tg } = await backend();

    const thrown = await tg.run('clustering', (run) => { run.report({}); }).catch((error: unknown) => error);

    expect(thrown).toBeInstanceOf(TypeError);
  });
});
