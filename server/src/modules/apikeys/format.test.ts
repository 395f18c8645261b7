import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../lib/crc32.js';
import { displayParts, generateKey, parseKey } from './format.js';

describe('key format', () => {
  it('100,000 generated keys are distinct, well-formed and pass their checksum', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const key = generateKey(i % 10 === 0 ? 'tgs' : 'tg');
      expect(parseKey(key)).not.toBeNull();
      seen.add(key);
    }
    expect(seen.size).toBe(100_000);
    const sample = generateKey('tg');
    expect(sample).toMatch(/^tg_[0-9A-Za-z]{38}$/);
    expect(generateKey('tgs')).toMatch(/^tgs_[0-9A-Za-z]{38}$/);
  });

  it('rejects every single-character change, truncation, and a kind swap', () => {
    const key = generateKey('tg');
    expect(parseKey(key)).toBe('tg');
    for (let i = 3; i < key.length; i++) {
      const replacement = key[i] === 'a' ? 'b' : 'a';
      expect(parseKey(key.slice(0, i) + replacement + key.slice(i + 1))).toBeNull();
    }
    expect(parseKey(key.slice(0, -1))).toBeNull();
    expect(parseKey(`tgs_${key.slice(3)}`)).toBeNull();
    expect(parseKey('')).toBeNull();
  });

  it('shows only a short prefix and the last four characters', () => {
    const key = generateKey('tg');
    expect(displayParts(key)).toEqual({ prefix: key.slice(0, 7), lastFour: key.slice(-4) });
  });

  it('computes the same CRC-32 as zlib', () => {
    const native = (zlib as { crc32?: (data: string) => number }).crc32;
    for (const text of ['', 'a', 'tg_abc', generateKey('tg'), 'ünïcödé']) {
      if (native) expect(crc32(text)).toBe(native(text));
    }
    expect(crc32('123456789')).toBe(0xcbf43926);
  });
});
