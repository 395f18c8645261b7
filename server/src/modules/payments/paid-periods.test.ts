import { describe, expect, it } from 'vitest';
import { periodsOf } from './paid-periods.js';

const at = (iso: string) => new Date(iso);
const spans = (p: Parameters<typeof periodsOf>[0]) => periodsOf(p).map((q) => [q.start.toISOString(), q.end.toISOString()]);

describe('periodsOf: the periods a payment pays for', () => {
  it('several intervals paid at once are as many periods, counted from the payment\'s start without drifting', () => {
    expect(spans({ periodStart: at('2027-01-31T10:00:00.000Z'), periodEnd: at('2027-04-30T10:00:00.000Z'), periods: 3 })).toEqual([
      ['2027-01-31T10:00:00.000Z', '2027-02-28T10:00:00.000Z'],
      ['2027-02-28T10:00:00.000Z', '2027-03-31T10:00:00.000Z'],
      ['2027-03-31T10:00:00.000Z', '2027-04-30T10:00:00.000Z'],
    ]);
    // Two years paid for a yearly plan: two yearly periods.
    expect(spans({ periodStart: at('2027-03-01T00:00:00.000Z'), periodEnd: at('2029-03-01T00:00:00.000Z'), periods: 2 })).toEqual([
      ['2027-03-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z'],
      ['2028-03-01T00:00:00.000Z', '2029-03-01T00:00:00.000Z'],
    ]);
  });

  it('one period, a span of no whole number of intervals (a provider\'s), or none, are what they are', () => {
    expect(spans({ periodStart: at('2027-01-05T00:00:00.000Z'), periodEnd: at('2027-02-05T00:00:00.000Z'), periods: 1 })).toEqual([['2027-01-05T00:00:00.000Z', '2027-02-05T00:00:00.000Z']]);
    expect(spans({ periodStart: at('2027-01-05T00:00:00.000Z'), periodEnd: at('2027-02-19T00:00:00.000Z'), periods: 2 })).toEqual([['2027-01-05T00:00:00.000Z', '2027-02-19T00:00:00.000Z']]);
    expect(spans({ periodStart: null, periodEnd: null, periods: 1 })).toEqual([]);
  });
});
