import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/clock.js';
import { startTestApp, type TestApp } from '../../../test/harness.js';
import { addMonthsUtc, periodAnchor } from './service.js';

describe('addMonthsUtc', () => {
  it('counts from the anchor, clamping to short months without drifting', () => {
    const anchor = new Date('2027-01-31T10:00:00.000Z');
    expect([1, 2, 3, 13].map((m) => addMonthsUtc(anchor, m).toISOString())).toEqual([
      '2027-02-28T10:00:00.000Z', '2027-03-31T10:00:00.000Z', '2027-04-30T10:00:00.000Z', '2028-02-29T10:00:00.000Z',
    ]);
  });
});

describe('periodAnchor', () => {
  it('is the subscription\'s start while the period lies on its cycle, else the period\'s end', () => {
    const created = new Date('2027-01-31T10:00:00.000Z');
    const period = (start: string, end: string) => ({ start: new Date(start), end: new Date(end) });
    for (const onCycle of ['2027-01-31T10:00:00.000Z', '2027-02-28T10:00:00.000Z', '2027-03-31T10:00:00.000Z', '2028-02-29T10:00:00.000Z']) {
      expect(periodAnchor(created, period(onCycle, '2030-01-01T00:00:00.000Z'))).toBe(created);
    }
    expect(periodAnchor(created, period('2027-03-15T08:00:00.000Z', '2027-04-15T08:00:00.000Z')).toISOString()).toBe('2027-04-15T08:00:00.000Z');
    expect(periodAnchor(created, period('2027-02-28T10:00:00.001Z', '2027-03-28T10:00:00.001Z')).toISOString()).toBe('2027-03-28T10:00:00.001Z');
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

  it('a trial given off the cycle, then active on a free plan, rolls whole months from the trial\'s start: no stub period', async () => {
    clock.set('2027-01-01T09:00:00.000Z');
    const owner = await t.signup();
    clock.set('2027-01-31T15:00:00.000Z');
    const op = await t.operator();
    const trial = await t.request({ method: 'POST', url: `/v1/admin/tenants/${owner.tenantId}/trial`, token: op.accessToken, payload: { endsAt: '2027-02-05T15:00:00.000Z', plan: 'free' } });
    expect(trial.statusCode, trial.body).toBeLessThan(300);
    const periods: string[] = [];
    for (const at of ['2027-02-06T00:00:00.000Z', '2027-03-01T00:00:00.000Z', '2027-03-02T00:00:00.000Z', '2027-04-01T00:00:00.000Z']) {
      clock.set(at);
      await t.deps.metering.sweep(clock.now());
      const period = await t.deps.metering.usage(owner.tenantId);
      periods.push(`${period.periodStart}..${period.periodEnd}`);
    }
    expect(periods).toEqual([
      '2027-01-31T15:00:00.000Z..2027-02-28T15:00:00.000Z',
      '2027-02-28T15:00:00.000Z..2027-03-28T15:00:00.000Z',
      '2027-02-28T15:00:00.000Z..2027-03-28T15:00:00.000Z',
      '2027-03-28T15:00:00.000Z..2027-04-28T15:00:00.000Z',
    ]);
  });
});
