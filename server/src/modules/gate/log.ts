import type { Db } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import * as repo from './repo.js';

const MAX_PENDING = 50_000;

/**
 * Every decision is logged, but not in the decision's own commit: rows are buffered and
 * written in one multi-row insert per flush, so logging costs the hot path nothing.
 * The ledger, counters and replay rows — what must be exact — are written synchronously.
 */
export class DecisionLog {
  private pending: repo.DecisionLogRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(private readonly db: Db, private readonly onError: (error: unknown) => void) {}

  record(row: repo.DecisionLogRow): void {
    // Under a database outage the buffer is bounded; the oldest rows are dropped first.
    if (this.pending.length >= MAX_PENDING) this.pending.shift();
    this.pending.push(row);
  }

  start(intervalMs: number): void {
    this.timer ??= setInterval(() => { void this.flush().catch(this.onError); }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  async flush(): Promise<void> {
    await this.flushing;
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
        this.pending = batch.concat(this.pending).slice(-MAX_PENDING);
        throw error;
      } finally {
        this.flushing = undefined;
      }
    })();
    await this.flushing;
  }
}
