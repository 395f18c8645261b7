import { performance } from 'node:perf_hooks';
import type { Database } from '../../db/client.js';
import { isConcurrencyFailure } from '../../db/errors.js';
import { decide, type DecideEntry, type StatementAnswer } from './statement.js';

/** What a batch answered a call: the statement's answer, or — the database refused the batch — the error it raised. */
export type BatchAnswer = StatementAnswer | { refused: unknown };

interface Pending { request: DecideEntry; resolve: (answer: BatchAnswer) => void; reject: (error: unknown) => void }

export interface BatcherOptions {
  /** Requests per statement at most. */
  maxBatch: number;
  /** Statements in flight at once; more requests wait and go in the next batch. */
  maxInFlight: number;
  /**
   * Requests a batch needs before it may start while another is in flight. A statement
   * has a fixed cost (on the 2-core bench machine ~0.5 ms of database CPU, the cost of ~7
   * requests): a small batch beside a running one pays it for few requests, where waiting
   * for the running one lets them go in one bigger batch.
   */
  minConcurrentBatch: number;
  /** The clock's now, for the statement. */
  now: () => Date;
  /** Told of every batch the server refused; `conflict` when for concurrency (SQLSTATE class 40), else a fault. */
  onRefused?: (error: unknown, conflict: boolean) => void;
  /** Told of every batch answered: its requests, and its seconds from sending the statement to the answer. */
  onAnswered?: (size: number, seconds: number) => void;
}

/**
 * Group commit for decisions. Requests that arrive while the batches in flight are
 * running queue and go together in the next ones: one statement, one transaction, one
 * commit for each batch, each request answered only after its batch's commit. When
 * several statements start at once, the queue is split among them by tenant, so that
 * they do not wait on each other's rows. A batch cut while another runs may share its
 * tenants and then waits for that one's commit on their rows: holding such tenants back
 * in the queue was measured no faster (issue 24), and the wait overlaps the new batch's
 * work before its first lock with the running one's commit. Batches are sorted by tenant,
 * so that concurrent batches (here or in another process) lock rows in one order.
 *
 * A batch the database refused (a deadlock, a counter that moved under it, any error the
 * server raised) committed nothing, so each of its requests is answered `refused` and
 * decided again alone (DecisionService), where a request at fault fails alone. Any other
 * failure (the connection dropped: the commit may or may not have happened) is thrown
 * to every caller of the batch, never retried.
 */
export class DecisionBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly database: Database, private readonly options: BatcherOptions) {}

  /** Requests waiting for a batch statement. */
  get queued(): number {
    return this.queue.length;
  }

  submit(request: DecideEntry): Promise<BatchAnswer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Batches are cut after the current turn of the event loop, once every continuation it
   * set off has run: the callers a finished batch answers submit again in microtasks, and
   * cutting at once would send the first of them alone and keep the rest waiting.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const free = this.options.maxInFlight - this.inFlight;
    if (free <= 0 || this.queue.length === 0) return;
    // The first batch goes at once, whatever its size; one beside it only once there are
    // requests enough to be worth its fixed cost (see BatcherOptions.minConcurrentBatch).
    const worth = Math.floor(this.queue.length / this.options.minConcurrentBatch);
    const slots = Math.min(free, this.inFlight === 0 ? Math.max(1, worth) : worth);
    if (slots === 0) return;
    const rest: Pending[] = [];
    for (const group of this.byTenant(this.queue, slots)) {
      const { batch, left } = this.take(group);
      rest.push(...left);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
    this.queue = rest;
  }

  /**
   * The queue split for `slots` statements at once, no tenant in two of them (two
   * batches sharing a tenant would wait on each other's row locks), sizes balanced.
   */
  private byTenant(queue: Pending[], slots: number): Pending[][] {
    if (slots === 1) return [queue];
    const perTenant = new Map<string, Pending[]>();
    for (const p of queue) {
      const mine = perTenant.get(p.request.tid);
      if (mine) mine.push(p);
      else perTenant.set(p.request.tid, [p]);
    }
    const groups: Pending[][] = Array.from({ length: slots }, () => []);
    for (const requests of perTenant.values()) {
      const smallest = groups.reduce((a, b) => (b.length < a.length ? b : a));
      smallest.push(...requests);
    }
    return groups.filter((g) => g.length > 0);
  }

  /** A batch from a group: at most one request per (tenant, idempotency key), so a retry sees its twin's answer. */
  private take(group: Pending[]): { batch: Pending[]; left: Pending[] } {
    const batch: Pending[] = [];
    const left: Pending[] = [];
    const keys = new Set<string>();
    for (const pending of group) {
      const { tid, idem } = pending.request;
      const key = idem === null ? null : `${tid}\u0000${idem}`;
      if (batch.length >= this.options.maxBatch || (key !== null && keys.has(key))) {
        left.push(pending);
        continue;
      }
      if (key !== null) keys.add(key);
      batch.push(pending);
    }
    // Stable: a tenant's requests keep their arrival order.
    batch.sort((a, b) => (a.request.tid < b.request.tid ? -1 : a.request.tid > b.request.tid ? 1 : 0));
    return { batch, left };
  }

  private async run(batch: Pending[]): Promise<void> {
    let answers: StatementAnswer[];
    const started = performance.now();
    try {
      answers = await decide(this.database, batch.map((p) => p.request), this.options.now());
    } catch (error) {
      if (!raisedByServer(error)) {
        for (const p of batch) p.reject(error);
        return;
      }
      this.options.onRefused?.(error, isConcurrencyFailure(error));
      for (const p of batch) p.resolve({ refused: error });
      return;
    }
    this.options.onAnswered?.(batch.length, (performance.now() - started) / 1000);
    batch.forEach((p, i) => p.resolve(answers[i]!));
  }
}

/** An error the server raised for the statement (it has a SQLSTATE): the statement's transaction rolled back. */
export function raisedByServer(error: unknown): boolean {
  const e = error as { code?: unknown; severity?: unknown } | null;
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}
