import type { Db } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import { Periodic } from '../../lib/periodic.js';
import * as repo from './repo.js';

/**
 * last_used_at is bookkeeping, not a decision input: uses are remembered in memory and
 * written in one statement per table every few seconds (and on shutdown), so the hot
 * path never writes.
 */
export class LastUsedBuffer {
  private pending = new Map<string, { table: 'api_keys' | 'service_keys'; at: Date }>();
  private readonly ticker: Periodic;

  constructor(private readonly db: Db, onError: (error: unknown) => void) {
    this.ticker = new Periodic(() => this.flush(), onError);
  }

  record(table: 'api_keys' | 'service_keys', id: string, at: Date): void {
    this.pending.set(id, { table, at });
  }

  start(intervalMs: number): void {
    this.ticker.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.ticker.stop();
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const of = (table: string) => [...batch].filter(([, u]) => u.table === table).map(([id, u]) => ({ id, at: u.at.toISOString() }));
    try {
      await inSystem(this.db, async (tx) => {
        await repo.touchLastUsed(tx, 'api_keys', of('api_keys'));
        await repo.touchLastUsed(tx, 'service_keys', of('service_keys'));
      });
    } catch (error) {
      for (const [id, use] of batch) if (!this.pending.has(id)) this.pending.set(id, use);
      throw error;
    }
  }
}
