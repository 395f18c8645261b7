import type { Db } from '../../db/client.js';
import { writeIsolating } from '../../db/batch-write.js';
import { inSystem } from '../../db/scope.js';
import { Periodic } from '../../lib/periodic.js';
import * as repo from './repo.js';

type KeyTable = 'api_keys' | 'service_keys';
interface Use { table: KeyTable; id: string; at: Date }

/**
 * last_used_at is bookkeeping, not a decision input: uses are remembered in memory and
 * written in one statement per table every few seconds (and on shutdown), so the hot
 * path never writes. A use the database refuses is counted and given up; the others
 * of its batch are written.
 */
export class LastUsedBuffer {
  private pending = new Map<string, Use>();
  private readonly ticker: Periodic;
  /** Uses the database refused for what they hold (for /metrics). */
  refusedRows = 0;

  constructor(private readonly db: Db, onError: (error: unknown) => void, private readonly onRefused: (use: Use, error: unknown) => void = () => undefined) {
    this.ticker = new Periodic(() => this.flush(), onError);
  }

  record(table: KeyTable, id: string, at: Date): void {
    this.pending.set(id, { table, id, at });
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
    const refused = new Set<Use>();
    const refuse = (use: Use, error: unknown) => {
      refused.add(use);
      this.refusedRows++;
      this.onRefused(use, error);
    };
    try {
      for (const table of ['api_keys', 'service_keys'] as const) {
        const uses = [...batch.values()].filter((use) => use.table === table);
        await writeIsolating(uses, (rows) => inSystem(this.db, (tx) =>
          repo.touchLastUsed(tx, table, rows.map((use) => ({ id: use.id, at: use.at.toISOString() })))), refuse);
      }
    } catch (error) {
      for (const [id, use] of batch) if (!refused.has(use) && !this.pending.has(id)) this.pending.set(id, use);
      throw error;
    }
  }
}
