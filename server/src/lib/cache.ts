/**
 * A bounded in-memory cache whose entries expire after a TTL. The TTL is only a
 * backstop: callers invalidate on every change. `load` refuses to store a value read
 * while an invalidation happened, so a read racing a change cannot resurrect old state.
 * Concurrent loads of one entry share one read (a burst on a cold entry is one query);
 * a caller that comes after an invalidation starts a read of its own.
 *
 * With `refreshAhead`, an entry used past a point between 80 and 95 % of its TTL (drawn
 * for each entry) is read again in the background while callers keep getting it:
 * entries loaded together (a warm-up, a restart) would otherwise all expire in the same
 * moment and every caller of that moment wait on a read (issue 24: 100 tenants' keys
 * and snapshots, loaded in one second, stalled a paced run 30 s later for ~100 ms and
 * queued its next second). An entry not used by then still expires at its TTL.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number; refreshAt: number }>();
  private readonly loading = new Map<unknown, Promise<V | undefined>>();
  private generation = 0;

  constructor(private readonly options: {
    ttlMs: number; maxEntries: number; now: () => number;
    refreshAhead?: boolean; random?: () => number;
  }) {}

  get(key: K): V | undefined {
    return this.live(key)?.value;
  }

  /** The entry of `key` unless it has expired (then dropped). */
  private live(key: K): { value: V; expiresAt: number; refreshAt: number } | undefined {
    const entry = this.entries.get(key);
    if (!entry || entry.expiresAt > this.options.now()) return entry;
    this.entries.delete(key);
    return undefined;
  }

  /** Stores until `expiresAt` (epoch ms) when given, never longer than the TTL. */
  set(key: K, value: V, expiresAt?: number): void {
    const { ttlMs, now, refreshAhead, random = Math.random } = this.options;
    const at = now();
    const limit = at + ttlMs;
    this.entries.delete(key);
    if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
    // A value whose own end comes first is not read ahead: it is over then, not stale.
    const refreshAt = refreshAhead ? at + ttlMs * (0.8 + 0.15 * random()) : Infinity;
    this.entries.set(key, { value, expiresAt: Math.min(expiresAt ?? limit, limit), refreshAt: expiresAt !== undefined && expiresAt < refreshAt ? Infinity : refreshAt });
  }

  /**
   * Cached value, else `load()`, shared with the loads of the same `flight` (the key
   * unless given: a caller whose load differs, such as one charged to another client,
   * names its own) in progress; undefined results are not cached. `expiresAt` (epoch ms)
   * ends a loaded value's life sooner than the TTL, as `set` does.
   */
  load(key: K, load: () => Promise<V | undefined>, flight: unknown = key, expiresAt?: (value: V) => number): Promise<V | undefined> {
    const entry = this.live(key);
    if (!entry) return this.loading.get(flight) ?? this.start(key, load, flight, expiresAt);
    // Past its refresh point: read again for the next callers (a failure keeps the entry, unrefreshed, until it expires).
    if (entry.refreshAt <= this.options.now() && !this.loading.has(flight)) {
      this.start(key, load, flight, expiresAt).catch(() => { entry.refreshAt = Infinity; });
    }
    return Promise.resolve(entry.value);
  }

  /** A read of `key` that stores what it finds, or drops the entry when nothing is there any more. */
  private start(key: K, load: () => Promise<V | undefined>, flight: unknown, expiresAt?: (value: V) => number): Promise<V | undefined> {
    const generation = this.generation;
    const loaded = load().then((value) => {
      if (generation === this.generation) {
        if (value !== undefined) this.set(key, value, expiresAt?.(value));
        else this.entries.delete(key);
      }
      return value;
    }).finally(() => {
      if (this.loading.get(flight) === loaded) this.loading.delete(flight);
    });
    this.loading.set(flight, loaded);
    return loaded;
  }

  delete(key: K): void {
    this.invalidate();
    this.entries.delete(key);
  }

  deleteWhere(predicate: (value: V, key: K) => boolean): void {
    this.invalidate();
    for (const [key, entry] of this.entries) if (predicate(entry.value, key)) this.entries.delete(key);
  }

  clear(): void {
    this.invalidate();
    this.entries.clear();
  }

  /** Reads in progress may have seen the old state: they store nothing, and no later caller joins them. */
  private invalidate(): void {
    this.generation++;
    this.loading.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * A pure function of a string remembered for the strings it is asked most: bounded, and
 * emptied when full (a string not asked again only costs a miss). For values computed on
 * every call from one of a few inputs (a decision's route spelled for the statement, a
 * request's fingerprint).
 */
export function rememberedByString<V>(compute: (key: string) => V, maxEntries = 256): (key: string) => V {
  const remembered = new Map<string, V>();
  return (key) => {
    let value = remembered.get(key);
    if (value === undefined) {
      if (remembered.size >= maxEntries) remembered.clear();
      value = compute(key);
      remembered.set(key, value);
    }
    return value;
  };
}
