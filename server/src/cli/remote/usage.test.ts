/** `tollgate usage`: a tenant's daily summary, run as a real process against a real server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperatorCli, type OperatorCli } from '../../../test/cli-process.js';
import type { TestApp } from '../../../test/harness.js';

let cli: OperatorCli;
let t: TestApp;

beforeAll(async () => {
  cli = await startOperatorCli();
  t = cli.t;
});
afterAll(async () => { await cli.close(); });

describe('tollgate usage', () => {
  it('shows runs per meter, credits, decisions allowed and denied per UTC day, as a table or JSON; bad dates are usage errors of the server', async () => {
    const owner = await t.signup();
    const key = (await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/api-keys`, token: owner.accessToken, payload: { name: 'backend', scopes: ['authorize'] } })).json().key;
    const decide = async () => (await t.request({ method: 'POST', url: '/v1/authorize', token: key, payload: { operation: 'clustering' } })).json();
    const first = await decide();
    await decide();
    expect((await decide()).code).toBe('LIMIT_EXCEEDED'); // two concurrent runs at most on the free plan
    await t.request({ method: 'POST', url: `/v1/reservations/${first.reservation.id}/settle`, token: key, payload: { credits: 7 } });
    await t.deps.decisionLog.flush();
    const today = t.clock.now().toISOString().slice(0, 10);

    const json = await cli.json<{ days: unknown[] }>('usage', owner.tenantId, '--from', today, '--to', today);
    expect(json).toEqual({ days: [{ date: today, meters: { runs: 1 }, credits: 7, allowed: 2, denied: { LIMIT_EXCEEDED: 1 } }] });

    const table = await cli.tollgate('usage', owner.tenantId, '--from', today, '--to', today);
    expect(table.code, table.stderr).toBe(0);
    const [header, row] = table.stdout.split('\n');
    expect(header).toMatch(/^DATE\s+RUNS\s+CREDITS\s+ALLOWED\s+DENIED$/);
    expect(row).toMatch(new RegExp(`^${today}\\s+1\\s+7\\s+2\\s+LIMIT_EXCEEDED 1$`));

    const inverted = await cli.tollgate('usage', owner.tenantId, '--from', today, '--to', '2000-01-01');
    expect(inverted.code).toBe(1);
    expect(inverted.stderr).toMatch('DATE_RANGE_INVERTED');
  });
});
