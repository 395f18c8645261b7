import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meteringViolations, type Query } from './invariants.js';
import { startTestApp, type SignedUp, type TestApp } from './harness.js';

/** The invariant checks the crash suite relies on find each kind of breakage (run on the suite's own database). */
let t: TestApp;
let owner: SignedUp;
let query: Query;
const reservations: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  query = (text, params) => t.db.asOwner(text, params);
  owner = await t.signup();
  const op = await t.operator();
  await t.request({ method: 'PATCH', url: `/v1/admin/tenants/${owner.tenantId}`, token: op.accessToken, payload: { plan: 'pro', limits: { concurrentRuns: 100 } } });
  for (let i = 0; i < 3; i++) {
    const decision = (await t.request({ method: 'POST', url: '/v1/authorize', token: owner.accessToken, payload: { operation: 'clustering' } })).json();
    reservations.push(decision.reservation.id);
  }
  await t.request({ method: 'POST', url: `/v1/reservations/${reservations[0]}/settle`, token: owner.accessToken, payload: { credits: 4 } });
  await t.request({ method: 'POST', url: `/v1/reservations/${reservations[1]}/release`, token: owner.accessToken });
});
afterAll(async () => { await t.close(); });

const named = (text: string) => text.replaceAll('$tenant', `'${owner.tenantId}'`).replaceAll('$held', `'${reservations[2]}'`).replaceAll('$settled', `'${reservations[0]}'`);

/** Runs `breakage` as the owner, returns what the checks found, and puts things back with `repair`. */
async function violationsAfter(breakage: string, repair: string): Promise<string[]> {
  await t.db.asOwner(named(breakage));
  try {
    return await meteringViolations(query, [owner.tenantId]);
  } finally {
    await t.db.asOwner(named(repair));
    expect(await meteringViolations(query, [owner.tenantId]), `repaired: ${repair}`).toEqual([]);
  }
}

describe('the metering invariants', () => {
  it('hold after decisions, a settlement and a release', async () => {
    expect(await meteringViolations(query, [owner.tenantId])).toEqual([]);
  });

  it('find a balance off its ledger, reserved off its holds, a second resolution, a counter off its events and a lost or stray lease', async () => {
    expect(await violationsAfter('UPDATE credit_accounts SET balance = balance + 1 WHERE tenant_id = $tenant', 'UPDATE credit_accounts SET balance = balance - 1 WHERE tenant_id = $tenant'))
      .toEqual([expect.stringMatching(/balance \d+ but the ledger sums to/)]);
    expect(await violationsAfter(`INSERT INTO credit_ledger (tenant_id, id, kind, amount, hold, balance_after, reserved_after, reservation_id, idempotency_key, request_hash, actor_type)
      SELECT tenant_id, 'led_again', 'release', 0, 0, balance, reserved, $settled, 'again', 'x', 'system' FROM credit_accounts WHERE tenant_id = $tenant`,
    "DELETE FROM credit_ledger WHERE id = 'led_again'"))
      .toEqual(expect.arrayContaining([expect.stringMatching(/status settled but ledgered as \[settle, release\]/)]));
    expect(await violationsAfter('UPDATE credit_accounts SET reserved = reserved + 1 WHERE tenant_id = $tenant', 'UPDATE credit_accounts SET reserved = reserved - 1 WHERE tenant_id = $tenant'))
      .toEqual([expect.stringMatching(/reserved \d+ but its held reservations sum to/)]);
    expect(await violationsAfter("UPDATE usage_counters SET used = used + 1 WHERE tenant_id = $tenant AND meter = 'runs'", "UPDATE usage_counters SET used = used - 1 WHERE tenant_id = $tenant AND meter = 'runs'"))
      .toEqual([expect.stringMatching(/runs from .* counts 4 but its events sum to 3/)]);
    const slotBack = "INSERT INTO run_slots (tenant_id, id, expires_at) SELECT tenant_id, id, expires_at FROM credit_reservations WHERE id = $held";
    expect(await violationsAfter('DELETE FROM run_slots WHERE tenant_id = $tenant AND id = $held', slotBack))
      .toEqual([expect.stringMatching(/is held but holds no run lease/), expect.stringMatching(/counts 1 held run slots but has 0/)]);
    expect(await violationsAfter("INSERT INTO run_slots (tenant_id, id, expires_at) VALUES ($tenant, 'res_stray', now() + interval '1 hour')", "DELETE FROM run_slots WHERE id = 'res_stray'"))
      .toEqual([expect.stringMatching(/run lease res_stray belongs to no held reservation/), expect.stringMatching(/counts 1 held run slots but has 2/)]);
    expect(await violationsAfter('UPDATE run_leases SET held = held + 1 WHERE tenant_id = $tenant', 'UPDATE run_leases SET held = held - 1 WHERE tenant_id = $tenant'))
      .toEqual([expect.stringMatching(/counts 2 held run slots but has 1/)]);
    expect(await violationsAfter("UPDATE credit_reservations SET status = 'held' WHERE id = $settled", "UPDATE credit_reservations SET status = 'settled' WHERE id = $settled"))
      .toEqual(expect.arrayContaining([expect.stringMatching(/status held but ledgered as \[settle\]/), expect.stringMatching(/status held but its usage records say \[settled\]/)]));
  });
});
