import { performance } from 'node:perf_hooks';
import type { Database } from '../../db/client.js';

/** One request for `tollgate_decide` (db/migrations/0005_decide_batch.sql): everything it needs, decided or made up front. */
export interface BatchRequest {
  tenantId: string;
  principalType: 'user' | 'api_key' | 'service';
  keyId: string | null;
  userId: string | null;
  /** A user's access token's issue time (seconds): a password reset since signs it out. */
  issuedAt: number | null;
  /** The error when the acting user is no member: TENANT_NOT_FOUND, or ON_BEHALF_OF_NOT_MEMBER for service keys. */
  absent: string;
  idempotencyKey: string | null;
  /** The request's fingerprint, kept with the answer of a call with an idempotency key; null without one. */
  hash: string | null;
  decisionId: string;
  principal: Record<string, unknown>;
  operation: { name: string; module: string; credits: number };
  module: string;
  meter: string | null;
  bypassRoles: readonly string[];
  keyCap: number | null;
  credits: number;
  /** Plans whose models admit the request's model; null when it names none. */
  modelPlans: string[] | null;
  rate: 'ok' | 'limited' | 'unavailable';
  retryAfterMs: number | null;
  reservation: { id: string; key: string; hash: string; operation: string; model: string | null; expiresAt: string };
  ids: { event: string; keyEvent: string; ledger: string; audit: string };
  actor: { type: string; id: string | null };
  requestId: string | null;
  /** The period start this process saw granted for the tenant (spares the statement a look-up). */
  grantedPeriod: string | null;
}

/**
 * How a request that reached the meters came out: `fail` 0 admitted, 1 the meter, 2 the
 * key's meter, 3 concurrent runs, 4 credits; the counts as far as the decision got, the
 * account after it, and the period. GateService spells the decision from it (outcome.ts).
 */
export interface BatchOutcome {
  fail: 0 | 1 | 2 | 3 | 4;
  plan: string;
  enterprise: boolean;
  role: string | null;
  meterUsed: number | null;
  meterLimit: number | null;
  keyUsed: number | null;
  keyCap: number | null;
  runsUsed: number | null;
  runsLimit: number | null;
  balance: number;
  reserved: number;
  bypass: boolean;
  periodStart: Date;
  periodEnd: Date;
}

/** What the batch answered for one request: an outcome, a decision made early, a stored one, an error code, or "take the reference path". */
export type BatchAnswer =
  | { outcome: BatchOutcome }
  | { decision: Record<string, unknown> }
  | { replay: Record<string, unknown> }
  | { error: string }
  | { slow: true };

/** tollgate_decide's row: an early answer, or the outcome's columns. */
interface AnswerRow {
  r_early: Exclude<BatchAnswer, { outcome: BatchOutcome }> | string | null;
  r_fail: number | null; r_plan: string; r_enterprise: boolean; r_role: string | null;
  r_mu: number | null; r_mlimit: number | null; r_ku: number | null; r_kcap: number | null; r_lu: number | null; r_runs: number | null;
  r_bal: number; r_res: number; r_byp: boolean; r_ps: Date | string; r_pe: Date | string;
}

interface Pending { request: BatchRequest; resolve: (answer: BatchAnswer) => void; reject: (error: unknown) => void }

export interface BatcherOptions {
  /** Requests per statement at most. */
  maxBatch: number;
  /** Statements in flight at once; more requests wait and go in the next batch. */
  maxInFlight: number;
  /**
   * Requests a batch needs before it may start while another is in flight. A statement
   * has a fixed cost (on the 2-core bench machine ~1 ms of database CPU, the cost of ~8
   * requests): a small batch beside a running one pays it for few requests, where waiting
   * for the running one lets them go in one bigger batch.
   */
  minConcurrentBatch: number;
  /** The statement's context: the clock's now, the plan catalog, settings. */
  context: () => Record<string, unknown>;
  /** Told of every batch the server refused; `conflict` when for concurrency (SQLSTATE class 40), else a fault. */
  onRefused?: (error: unknown, conflict: boolean) => void;
  /** Told of every batch answered: its requests, and its seconds from sending the statement to the answer. */
  onAnswered?: (size: number, seconds: number) => void;
}

const STATEMENT = 'SELECT * FROM tollgate_decide($1::jsonb, $2::jsonb)';

/**
 * Group commit for decisions. Requests that arrive while the batches in flight are
 * running queue and go together in the next ones: one statement, one transaction, one
 * commit for each batch, each request answered only after its batch's commit. When
 * several statements may start at once, the queue is split among them by tenant, so
 * that they do not wait on each other's rows. Batches are sorted by tenant, so that
 * concurrent batches (here or in another process) lock rows in one order.
 *
 * A batch the database refused (a deadlock, a counter that moved under it, any error the
 * server raised) committed nothing, so its requests are answered `slow` and each takes
 * the per-request path, where a request at fault fails alone. Any other failure (the
 * connection dropped: the commit may or may not have happened) is thrown to every
 * caller of the batch, never retried.
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

  submit(request: BatchRequest): Promise<BatchAnswer> {
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
      const mine = perTenant.get(p.request.tenantId);
      if (mine) mine.push(p);
      else perTenant.set(p.request.tenantId, [p]);
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
      const { tenantId, idempotencyKey } = pending.request;
      const key = idempotencyKey === null ? null : `${tenantId}\u0000${idempotencyKey}`;
      if (batch.length >= this.options.maxBatch || (key !== null && keys.has(key))) {
        left.push(pending);
        continue;
      }
      if (key !== null) keys.add(key);
      batch.push(pending);
    }
    // Stable: a tenant's requests keep their arrival order.
    batch.sort((a, b) => (a.request.tenantId < b.request.tenantId ? -1 : a.request.tenantId > b.request.tenantId ? 1 : 0));
    return { batch, left };
  }

  private async run(batch: Pending[]): Promise<void> {
    let answers: BatchAnswer[];
    const started = performance.now();
    try {
      const rows = await this.database.statement<AnswerRow>(STATEMENT, [
        JSON.stringify(batch.map((p) => p.request)), JSON.stringify(this.options.context()),
      ]);
      answers = rows.map(answerOf);
      if (answers.length !== batch.length) throw new Error(`tollgate_decide answered ${answers.length} of ${batch.length} requests`);
    } catch (error) {
      if (!raisedByServer(error)) {
        for (const p of batch) p.reject(error);
        return;
      }
      this.options.onRefused?.(error, String((error as { code: string }).code).startsWith('40'));
      for (const p of batch) p.resolve({ slow: true });
      return;
    }
    this.options.onAnswered?.(batch.length, (performance.now() - started) / 1000);
    batch.forEach((p, i) => p.resolve(answers[i]!));
  }
}

/** An error the server raised for the statement (it has a SQLSTATE): the statement's transaction rolled back. */
function raisedByServer(error: unknown): boolean {
  const e = error as { code?: unknown; severity?: unknown } | null;
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}

function answerOf(row: AnswerRow): BatchAnswer {
  if (row.r_early !== null) return typeof row.r_early === 'string' ? JSON.parse(row.r_early) as BatchAnswer : row.r_early;
  return {
    outcome: {
      fail: row.r_fail as BatchOutcome['fail'], plan: row.r_plan, enterprise: row.r_enterprise, role: row.r_role,
      meterUsed: row.r_mu, meterLimit: row.r_mlimit, keyUsed: row.r_ku, keyCap: row.r_kcap, runsUsed: row.r_lu, runsLimit: row.r_runs,
      balance: row.r_bal, reserved: row.r_res, bypass: row.r_byp, periodStart: new Date(row.r_ps), periodEnd: new Date(row.r_pe),
    },
  };
}
