import type { Db, Executor } from '../../db/client.js';
import { writeIsolating } from '../../db/batch-write.js';
import { inSystem } from '../../db/scope.js';
import { DAY_MS, systemClock, type Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { Periodic } from '../../lib/periodic.js';
import * as repo from './repo.js';

const MAX_PENDING = 50_000;

/** The denials one row counts: the same tenant, principal and code in the same minute. */
function denialKey(row: repo.DecisionLogRow): string {
  return `${row.tenantId}\u0000${row.principalType}\u0000${row.principalId ?? ''}\u0000${row.code}\u0000${Math.floor(row.createdAt.getTime() / 60_000)}`;
}

/** What the day counts read of a decision-log row, or of a count of allowed decisions. */
export type Counted = Pick<repo.DecisionLogRow, 'tenantId' | 'createdAt' | 'allowed' | 'code' | 'replayed' | 'calls'>;

/**
 * Every decision is recorded. An allowed one by the reservation it opens, in its own
 * commit (0019). The others — denials and replayed answers — are logged, but not in the
 * decision's commit: rows are buffered and written in one multi-row insert per flush, so
 * logging costs the hot path nothing. Denials are logged as counts: the first denial of a
 * (tenant, principal, code, minute) in a flush is buffered as its row, and each like it
 * after only adds to that row's `calls` — a tenant calling past its limit thousands of
 * times a second writes a row a second, not thousands. Replayed answers are a row each.
 * The ledger, counters, reservations and replay rows — what must be exact — are written
 * synchronously. The price: a process killed outright (kill -9, out of memory) loses the
 * rows not yet written, at most one flush interval's worth (plus a flush in progress)
 * while the database keeps up; oldestPendingSeconds
 * (tollgate_decision_log_oldest_pending_seconds) is how far back that loss would reach
 * now. The tenants' daily decision counts (usage summaries: `onWritten`) are added at the
 * flush, the denials' in the same transaction as their rows, the allowed decisions' as
 * counts kept here until then, each write of them under an id its transaction claims, so
 * a write retried after a lost reply adds nothing twice; they share the log's loss bound.
 */
export class DecisionLog {
  private pending: repo.DecisionLogRow[] = [];
  /**
   * Allowed decisions by tenant and UTC day, not yet added to the day counts. Their records
   * are their reservations (0019), written in the decision's own commit; only the count
   * waits for a flush (and shares the rows' loss bound).
   */
  private allowed = new Map<string, Counted>();
  /**
   * Writes of counts that failed, each under its id. One whose COMMIT went through but
   * whose reply was lost looks failed too; written again under the same id, it adds
   * nothing (repo.claimCountWrite), so no count is added twice.
   */
  private unsure: CountWrite[] = [];
  /** The pending denial rows by (tenant, principal, code, minute): the next like them is counted on them. */
  private denials = new Map<string, repo.DecisionLogRow>();
  private flushing: Promise<void> | undefined;
  /** The oldest row of the flush in progress, until it is written. */
  private inFlightSince: Date | undefined;
  private readonly ticker: Periodic;
  /** Rows given up because the buffer was full (for /metrics). */
  droppedRows = 0;
  /** Rows the database refused for what they hold; the others of their batch were written (for /metrics). */
  refusedRows = 0;
  /** Allowed decisions whose day count was given up: its write stayed unsure past the time its id is kept (for /metrics). */
  droppedCounts = 0;

  private readonly clock: Clock;
  private readonly maxPending: number;
  private readonly onRefused: (row: repo.DecisionLogRow, error: unknown) => void;
  private readonly onWritten: (tx: Executor, rows: readonly Counted[]) => Promise<void>;

  constructor(private readonly db: Db, onError: (error: unknown) => void, options: {
    clock?: Clock;
    /** Rows kept while the database cannot take them (the oldest are dropped past it). */
    maxPending?: number;
    /** A row the database refused (to log: it is not kept). */
    onRefused?: (row: repo.DecisionLogRow, error: unknown) => void;
    /** Told, in the transaction that wrote them, of the rows a write added, and of the allowed decisions counted (the usage day counts). */
    onWritten?: (tx: Executor, rows: readonly Counted[]) => Promise<void>;
  } = {}) {
    this.ticker = new Periodic(() => this.flush(), onError);
    this.clock = options.clock ?? systemClock;
    this.maxPending = options.maxPending ?? MAX_PENDING;
    this.onRefused = options.onRefused ?? (() => undefined);
    this.onWritten = options.onWritten ?? (async () => undefined);
  }

  record(row: repo.DecisionLogRow): void {
    if (isDenial(row)) {
      const key = denialKey(row);
      const counted = this.denials.get(key);
      if (counted) {
        counted.calls++;
        return;
      }
      this.denials.set(key, row);
    }
    // Under a database outage the buffer is bounded; the oldest rows are dropped first.
    if (this.pending.length >= this.maxPending) this.forget([this.pending.shift()!]);
    this.pending.push(row);
  }

  /** An allowed decision recorded by its reservation: it needs no row, only its place in the day counts. */
  countAllowed(tenantId: string, at: Date): void {
    // One count per tenant and UTC day.
    const key = `${tenantId}\u0000${Math.floor(at.getTime() / DAY_MS)}`;
    const counted = this.allowed.get(key);
    if (counted) counted.calls++;
    else this.allowed.set(key, { tenantId, createdAt: at, allowed: true, code: 'OK', replayed: false, calls: 1 });
  }

  /**
   * Rows given up. A dropped denial row leaves the count map too: the next like denial
   * starts a row of its own instead of being counted on one that will never be written.
   */
  private forget(rows: repo.DecisionLogRow[]): void {
    this.droppedRows += rows.length;
    for (const row of rows) {
      if (!isDenial(row)) continue;
      const key = denialKey(row);
      if (this.denials.get(key) === row) this.denials.delete(key);
    }
  }

  /** Rows buffered, not yet written. */
  get pendingRows(): number {
    return this.pending.length;
  }

  /** Seconds since the oldest decision whose row (or count) is not written yet (0 when every one is). */
  get oldestPendingSeconds(): number {
    const oldest = oldestOf(this.inFlightSince ?? this.pending[0]?.createdAt, [...this.allowed.values(), ...this.unsure.flatMap((w) => w.counts)]);
    return oldest ? Math.max(0, (this.clock.now().getTime() - oldest.getTime()) / 1000) : 0;
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
    if (this.pending.length === 0 && this.allowed.size === 0 && this.unsure.length === 0) return;
    const batch = this.pending;
    const now = this.clock.now().getTime();
    // A write not made for half the time its id is kept may have committed and had its id
    // pruned since: written again it could count twice, so it is given up (counted as dropped).
    const writes: CountWrite[] = [];
    for (const write of this.unsure) {
      if (now - write.at < repo.COUNT_WRITE_KEPT_MS / 2) writes.push(write);
      else for (const c of write.counts) this.droppedCounts += c.calls;
    }
    // While an earlier write is unsure, new counts wait in the map (a count per tenant and
    // day, bounded), not in writes of their own: one unsure write at a time.
    if (writes.length === 0 && this.allowed.size > 0) {
      writes.push({ id: newId('dcf', now), at: now, counts: [...this.allowed.values()] });
      this.allowed = new Map();
    }
    const counts = writes.flatMap((w) => w.counts);
    this.pending = [];
    this.unsure = [];
    // Denials from here on are counted on rows of the next flush, never on rows being written.
    this.denials = new Map();
    this.inFlightSince = oldestOf(batch[0]?.createdAt, counts);
    const refused = new Set<repo.DecisionLogRow>();
    this.flushing = (async () => {
      try {
        for (let i = 0; i < batch.length; i += 1000) {
          await writeIsolating(batch.slice(i, i + 1000), (rows) => inSystem(this.db, async (tx) => {
            await this.onWritten(tx, await repo.insertLog(tx, [...rows]));
          }), (row, error) => {
            refused.add(row);
            this.refusedRows++;
            this.onRefused(row, error);
          });
        }
        while (writes.length > 0) {
          const write = writes[0]!;
          await inSystem(this.db, async (tx) => {
            if (await repo.claimCountWrite(tx, write.id, this.clock.now())) await this.onWritten(tx, write.counts);
          });
          writes.shift();
        }
      } catch (error) {
        // Out of reach: keep every count write under its id, and every row but the refused (rows already written are skipped by the insert).
        this.unsure = writes.concat(this.unsure);
        const kept = batch.filter((row) => !refused.has(row)).concat(this.pending);
        const over = Math.max(0, kept.length - this.maxPending);
        this.forget(kept.slice(0, over));
        this.pending = kept.slice(over);
        throw error;
      } finally {
        this.flushing = undefined;
        this.inFlightSince = undefined;
      }
    })();
    await this.flushing;
  }
}

/** Allowed decisions' counts written together, under one id (made at `at`). */
interface CountWrite { id: string; at: number; counts: Counted[] }

/** The earlier of `first` and the counts' first decisions. */
function oldestOf(first: Date | undefined, counts: Iterable<Counted>): Date | undefined {
  let oldest = first;
  for (const c of counts) if (!oldest || c.createdAt < oldest) oldest = c.createdAt;
  return oldest;
}

function isDenial(row: Counted): boolean {
  return !row.allowed && !row.replayed;
}
