import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { startTestApp, type TestApp } from '../../../test/harness.js';
import { addMonthsUtc } from './service.js';

describe('addMonthsUtc', () => {
  it('counts from the anchor, clamping to short months without drifting', () => {
    const anchor = new Date('2027-01-31T10:00:00.000Z');
    expect([1, 2, 3, 13].map((m) => addMonthsUtc(anchor, m).toISOString())).toEqual([
      '2027-02-28T10:00:00.000Z', '2027-03-31T10:00:00.000Z', '2027-04-30T10:00:00.000Z', '2028-02-29T10:00:00.000Z',
    ]);
  });
});

describe('subscription periods', () => {
  let t: TestApp;
  const clock = new ManualClock('2027-01-31T10:00:00.000Z');
  beforeAll(async () => { t = await startTestApp({ clock }); });
  afterAll(async () => { await t.close(); });

  it('roll forward contiguously and keep the anniversary day (31st → Feb 28 → Mar 31)', async () => {
    const owner = await t.signup();
    const periods: string[] = [];
    for (const at of ['2027-02-28T10:00:00.000Z', '2027-03-31T10:00:00.000Z', '2027-05-15T00:00:00.000Z']) {
      clock.set(at);
      const usage = (await t.request({ method: 'GET', url: `/v1/tenants/${owner.tenantId}/usage`, token: (await t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: owner.email, password: owner.password } })).json().accessToken })).json();
      periods.push(`${usage.periodStart}..${usage.periodEnd}`);
    }
    expect(periods).toEqual([
      '2027-02-28T10:00:00.000Z..2027-03-31T10:00:00.000Z',
      '2027-03-31T10:00:00.000Z..2027-04-30T10:00:00.000Z',
      '2027-04-30T10:00:00.000Z..2027-05-31T10:00:00.000Z',
    ]);
  });
});
