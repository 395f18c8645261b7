import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, testConfig } from '../test/harness.js';
import { createTollgate } from './index.js';
import { ManualClock } from './lib/clock.js';

describe('createTollgate (embedded)', () => {
  it('offers the metering calls the HTTP routes wrap', async () => {
    const db = await createTestDatabase();
    const tollgate = await createTollgate(testConfig(), { database: db.database, clock: new ManualClock(), logger: pino({ level: 'silent' }) });
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
      await db.drop();
    }
  });
});
