import type { Database } from '../../db/client.js';

/** One request for `tollgate_decide` (db/migrations/0005_decide_batch.sql): everything it needs, decided or made up front. */
export interface BatchRequest {
  tenantId: string;
  principalType: 'user' | 'api_key' | 'service';
  keyId: string | null;
  userId: string | null;
  /** The error when the acting user is no member: TENANT_NOT_FOUND, or ON_BEHALF_OF_NOT_MEMBER for service keys. */
  absent: string;
  idempotencyKey: string | null;
  hash: string;
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

/** What the batch answered for one request: a decision, a stored one, an error code, or "take the reference path". */
export type BatchAnswer =
  | { decision: Record<string, unknown>; grantedPeriod?: string }
  | { replay: Record<string, unknown> }
  | { error: string }
  | { slow: true };

interface Pending { request: BatchRequest; resolve: (answer: BatchAnswer) => void; reject: (error: unknown) => void }

export interface BatcherOptions {
  /** Requests per statement at most. */
  maxBatch: number;
  /** Statements in flight at once; more requests wait and go in the next batch. */
  maxInFlight: number;
  /** The statement's context: the clock's now, the plan catalog, settings. */
  context: () => Record<string, unknown>;
  /** Told of every batch the server refused; `conflict` when for concurrency (SQLSTATE class 40), else a fault. */
  onRefused?: (error: unknown, conflict: boolean) => void;
}

const STATEMENT = 'SELECT tollgate_decide($1::jsonb, $2::jsonb) AS answer';

/**
 * Group commit for decisions. Requests that arrive while a batch is in flight queue and
 * go together in the next one: one statement, one transaction, one commit for all of
 * them, each answered only after that commit. Batches are sorted by tenant so that
 * concurrent batches (here or in another process) lock tenants in the same order.
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

  constructor(private readonly database: Database, private readonly options: BatcherOptions) {}

  submit(request: BatchRequest): Promise<BatchAnswer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  /** The next batch: at most one request per (tenant, idempotency key), so a retry sees its twin's answer. */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const keys = new Set<string>();
    for (const pending of this.queue) {
      const { tenantId, idempotencyKey } = pending.request;
      const key = idempotencyKey === null ? null : `${tenantId}\u0000${idempotencyKey}`;
      if (batch.length >= this.options.maxBatch || (key !== null && keys.has(key))) {
        rest.push(pending);
        continue;
      }
      if (key !== null) keys.add(key);
      batch.push(pending);
    }
    this.queue = rest;
    // Stable: a tenant's requests keep their arrival order.
    return batch.sort((a, b) => (a.request.tenantId < b.request.tenantId ? -1 : a.request.tenantId > b.request.tenantId ? 1 : 0));
  }

  private async run(batch: Pending[]): Promise<void> {
    let answers: BatchAnswer[];
    try {
      const rows = await this.database.statement<{ answer: BatchAnswer | string }>(STATEMENT, [
        JSON.stringify(batch.map((p) => p.request)), JSON.stringify(this.options.context()),
      ]);
      answers = rows.map((row) => (typeof row.answer === 'string' ? JSON.parse(row.answer) as BatchAnswer : row.answer));
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
    batch.forEach((p, i) => p.resolve(answers[i]!));
  }
}

/** An error the server raised for the statement (it has a SQLSTATE): the statement's transaction rolled back. */
function raisedByServer(error: unknown): boolean {
  const e = error as { code?: unknown; severity?: unknown } | null;
  return typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}
