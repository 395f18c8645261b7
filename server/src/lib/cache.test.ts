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
