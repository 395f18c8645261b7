import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstIdAt, ID_PATTERN, newId } from './ids.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const timeOf = (id: string) => [...id.slice(4, 14)].reduce((t, c) => t * 32 + ALPHABET.indexOf(c), 0);

describe('newId', () => {
  it('is the prefix, the creation time in 10 characters and 16 random ones, so ids sort by age', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer({ min: 0, max: 2 ** 48 - 1 }), (a, b) => {
      const [x, y] = [newId('res', a), newId('res', b)];
      expect(x).toMatch(new RegExp(ID_PATTERN));
      expect(timeOf(x)).toBe(a);
      expect(timeOf(y)).toBe(b);
      if (a < b) expect(x < y).toBe(true);
    }));
  });

  it('does not repeat, and its random part uses the whole alphabet', () => {
    const ids = Array.from({ length: 20_000 }, () => newId('evt', 1_700_000_000_000));
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.flatMap((id) => [...id.slice(14)])).size).toBe(32);
  });
});

describe('firstIdAt', () => {
  it('sorts above every id made before its instant and at or below every id made from it on', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 48 - 2 }), fc.integer({ min: -1000, max: 1000 }), (at, offset) => {
      const floor = firstIdAt('dcf', at);
      expect(floor).toMatch(new RegExp(ID_PATTERN));
      const id = newId('dcf', Math.max(0, at + offset));
      expect(id >= floor).toBe(at + offset >= at);
    }));
  });
});
