import { describe, expect, it } from 'vitest';
import { rememberedByString, TtlCache } from './cache.js';

/** A load the test finishes by hand, counting how often it was started. */
function gatedLoads<V>() {
  const started: { finish: (value: V | undefined) => void }[] = [];
  const load = () => new Promise<V | undefined>((resolve) => { started.push({ finish: resolve }); });
  return { load, started };
}

describe('TtlCache loads', () => {
  const cache = () => new TtlCache<string, string>({ ttlMs: 1000, maxEntries: 10, now: () => 0 });

  it('concurrent loads of one entry share one read; a flight of its own reads on its own', async () => {
    const c = cache();
    const { load, started } = gatedLoads<string>();
    const joined = Promise.all([c.load('k', load), c.load('k', load), c.load('k', load)]);
    const other = c.load('k', load, 'another client');
    expect(started).toHaveLength(2);
    started[0]!.finish('v');
    started[1]!.finish('v');
    expect(await joined).toEqual(['v', 'v', 'v']);
    expect(await other).toBe('v');
    expect(await c.load('k', load)).toBe('v'); // cached
    expect(started).toHaveLength(2);
  });

  it('after an invalidation a caller reads afresh, and the read from before stores nothing', async () => {
    const c = cache();
    const { load, started } = gatedLoads<string>();
    const before = c.load('k', load);
    c.delete('k');
    const after = c.load('k', load);
    expect(started).toHaveLength(2);
    started[0]!.finish('old');
    started[1]!.finish('new');
    expect([await before, await after]).toEqual(['old', 'new']);
    expect(c.get('k')).toBe('new');
  });

  it('a failed read is everyone\'s who joined it, and the next caller tries again', async () => {
    const c = cache();
    let calls = 0;
    const failing = () => { calls++; return Promise.reject(new Error('down')); };
    await expect(Promise.all([c.load('k', failing), c.load('k', failing)])).rejects.toThrow('down');
    await expect(c.load('k', failing)).rejects.toThrow('down');
    expect(calls).toBe(2);
  });

  it('a loaded value lives until its own expiry when given, never past the TTL', async () => {
    let now = 0;
    const c = new TtlCache<string, { until: number }>({ ttlMs: 1000, maxEntries: 10, now: () => now });
    await c.load('soon', () => Promise.resolve({ until: 300 }), 'soon', (v) => v.until);
    await c.load('late', () => Promise.resolve({ until: 5000 }), 'late', (v) => v.until);
    now = 299;
    expect(c.get('soon')).toEqual({ until: 300 });
    now = 300;
    expect(c.get('soon')).toBeUndefined();
    expect(c.get('late')).toEqual({ until: 5000 });
    now = 1000;
    expect(c.get('late')).toBeUndefined();
  });
});

describe('TtlCache read ahead', () => {
  /** TTL 1000 ms; refresh points at 800 + 150 × the drawn number. */
  function ahead(draw = 0.5) {
    const clock = { now: 0 };
    const c = new TtlCache<string, string>({ ttlMs: 1000, maxEntries: 10, now: () => clock.now, refreshAhead: true, random: () => draw });
    return { c, clock };
  }

  it('an entry used past its refresh point is read again in the background: no caller waits, the next gets the new value', async () => {
    const { c, clock } = ahead(0.5); // refresh at 875
    const { load, started } = gatedLoads<string>();
    c.set('k', 'old');
    clock.now = 874;
    expect(await c.load('k', load)).toBe('old');
    expect(started).toHaveLength(0);
    clock.now = 875;
    // Answered at once with what it holds, one read started and shared by the callers meanwhile.
    expect(await Promise.all([c.load('k', load), c.load('k', load)])).toEqual(['old', 'old']);
    expect(started).toHaveLength(1);
    started[0]!.finish('new');
    await Promise.resolve();
    expect(await c.load('k', load)).toBe('new');
    // Its life starts again: alive past the first entry's expiry, not read again before its own point.
    clock.now = 1700;
    expect(await c.load('k', load)).toBe('new');
    expect(started).toHaveLength(1);
    clock.now = 1750;
    await c.load('k', load);
    expect(started).toHaveLength(2);
  });

  it('entries stored in one moment draw their refresh points apart', () => {
    let draw = 0;
    const clock = { now: 0 };
    const c = new TtlCache<string, string>({ ttlMs: 1000, maxEntries: 10, now: () => clock.now, refreshAhead: true, random: () => (draw = (draw + 0.25) % 1) });
    const reads: string[] = [];
    for (const k of ['a', 'b', 'c']) c.set(k, k);
    // Points at 837.5, 875, 912.5: a caller at 850 refreshes only the first.
    clock.now = 850;
    for (const k of ['a', 'b', 'c']) void c.load(k, () => { reads.push(k); return Promise.resolve(k); });
    expect(reads).toEqual(['a']);
  });

  it('without it, or for a value whose own end comes first, nothing is read before expiry', async () => {
    const clock = { now: 0 };
    const plain = new TtlCache<string, string>({ ttlMs: 1000, maxEntries: 10, now: () => clock.now });
    const { c: ending, clock: endingClock } = ahead(0); // refresh point 800
    let reads = 0;
    const load = () => { reads++; return Promise.resolve('v'); };
    plain.set('k', 'v');
    ending.set('k', 'v', 499); // over at 499: never stale before then
    clock.now = 999;
    endingClock.now = 498;
    expect([await plain.load('k', load), await ending.load('k', load)]).toEqual(['v', 'v']);
    expect(reads).toBe(0);
  });

  it('a refresh that finds nothing drops the entry; one that fails keeps it, unrefreshed, until it expires', async () => {
    const { c, clock } = ahead(0);
    c.set('gone', 'v');
    c.set('down', 'v');
    clock.now = 800;
    expect(await c.load('gone', () => Promise.resolve(undefined))).toBe('v');
    await Promise.resolve();
    await Promise.resolve();
    expect(c.get('gone')).toBeUndefined();
    let failures = 0;
    const failing = () => { failures++; return Promise.reject(new Error('down')); };
    expect(await c.load('down', failing)).toBe('v');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await c.load('down', failing)).toBe('v');
    expect(failures).toBe(1);
    clock.now = 1000;
    await expect(c.load('down', failing)).rejects.toThrow('down');
  });

  it('a refresh racing an invalidation stores nothing', async () => {
    const { c, clock } = ahead(0);
    const { load, started } = gatedLoads<string>();
    c.set('k', 'old');
    clock.now = 800;
    await c.load('k', load);
    c.delete('k');
    started[0]!.finish('read before the change');
    await Promise.resolve();
    expect(c.get('k')).toBeUndefined();
  });
});

describe('rememberedByString', () => {
  it('computes once per string while it is kept, and forgets all when full', () => {
    const computed: string[] = [];
    const upper = rememberedByString((s) => { computed.push(s); return s.toUpperCase(); }, 2);
    expect([upper('a'), upper('a'), upper('b'), upper('a')]).toEqual(['A', 'A', 'B', 'A']);
    expect(computed).toEqual(['a', 'b']);
    // A third string finds it full: it is emptied, so 'a' is computed again.
    expect([upper('c'), upper('a')]).toEqual(['C', 'A']);
    expect(computed).toEqual(['a', 'b', 'c', 'a']);
  });
});
