import type { Db } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import { Periodic } from '../../lib/periodic.js';
import * as repo from './repo.js';

const MAX_PENDING = 50_000;

/**
 * Every decision is logged, but not in the decision's own commit: rows are buffered and
 * written in one multi-row insert per flush, so logging costs the hot path nothing.
 * The ledger, counters and replay rows — what must be exact — are written synchronously.
 */
export class DecisionLog {
  private pending: repo.DecisionLogRow[] = [];
  private flushing: Promise<void> | undefined;
  private readonly ticker: Periodic;
  /** Rows given up because the buffer was full (for /metrics). */
  droppedRows = 0;

  constructor(private readonly db: Db, onError: (error: unknown) => void) {
    this.ticker = new Periodic(() => this.flush(), onError);
  }

  record(row: repo.DecisionLogRow): void {
    // Under a database outage the buffer is bounded; the oldest rows are dropped first.
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.droppedRows++;
    }
    this.pending.push(row);
  }

  /** Rows buffered, not yet written. */
  get pendingRows(): number {
    return this.pending.length;
  }

  start(intervalMs: number): void {
    this.ticker.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.ticker.stop();
  }

  async flush(): Promise<void> {
    // A tick and an explicit flush may meet: wait until no flush is in flight, then take the batch.
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushing = (async () => {
      try {
        for (let i = 0; i < batch.length; i += 1000) {
          const chunk = batch.slice(i, i + 1000);
          await inSystem(this.db, (tx) => repo.insertLog(tx, chunk));
        }
      } catch (error) {
        const kept = batch.concat(this.pending);
        this.droppedRows += Math.max(0, kept.length - MAX_PENDING);
        this.pending = kept.slice(-MAX_PENDING);
        throw error;
      } finally {
        this.flushing = undefined;
      }
    })();
    await this.flushing;
  }
}
