import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { compositeArrayLiteral } from '../../db/array-literal.js';
import type { Database } from '../../db/client.js';
import type { Metered, Outcome, PreError, Refused, Shape } from './outcome.js';
import type { Route } from './schemas.js';

/**
 * One call as the decision statement takes it (db/functions/decide.sql, a row of type
 * tollgate_request): the stamps its rules relied on, what to keep under its idempotency
 * key, a refusal already decided (`pre`), else what to check and increment.
 */
export interface DecideEntry {
  tid: string;
  tgen: number;
  /** The acting user, whose generation is stamped too (null for API keys). */
  uid: string | null;
  ugen: number | null;
  skid: string | null;
  skgen: number | null;
  idem: string | null;
  /** The request's fingerprint: the same idempotency key must always carry the same one. */
  hash: string | null;
  /** Kept with the answer under an idempotency key (null without one). */
  shape: Shape | null;
  pre: Refused | PreError | null;
  meter: string | null;
  mlimit: number | null;
  may_bypass: boolean;
  kmeter: string | null;
  kcap: number | null;
  runs: number | null;
  cost: number;
  ps: string | null;
  pe: string | null;
  role: string | null;
  res_id: string | null;
  res_key: string | null;
  res_hash: string | null;
  op: string;
  model: string | null;
  expires: string | null;
  event_id: string | null;
  key_event_id: string | null;
  audit_id: string | null;
  actor_type: string;
  actor_id: string | null;
  request_id: string | null;
  /** The provider route the decision named, kept on the reservation (its usage record and its price read it). */
  route: Route | null;
  /** credits.low's threshold, the same in every entry (the statement takes the first's, once). */
  clow: number | null;
  /** The decision's id, kept on its reservation (POST /v1/routes/credentials finds the route by it). */
  dec_id: string | null;
  /** Who decided (the decision's principal) and the operation's module: an admission's reservation is its decision's record. */
  ptype: string | null;
  pid: string | null;
  puid: string | null;
  module: string | null;
}

/** What the statement answered for a call. */
export type StatementAnswer =
  | { verdict: 'stale' }
  | { verdict: 'conflict' }
  | { verdict: 'replay'; stored: StoredAnswer }
  | { verdict: 'pre' }
  | { verdict: 'admit'; outcome: Metered; /** The statement's instant: an admission's reservation is created at it. */ at: Date };

/** An answer kept under an idempotency key: the shape and the outcome, or (kept before 0009) the decision as spelled then. */
export type StoredAnswer = { shape: Shape; outcome: Outcome } | { decision: Record<string, unknown> };

const Count = Type.Union([Type.Number(), Type.Null()]);
const AnswerRow = Type.Object({
  r_verdict: Type.Enum(['stale', 'conflict', 'replay', 'pre', 'admit'] as const),
  r_stored: Type.Unknown(),
  r_fail: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2), Type.Literal(3), Type.Literal(4), Type.Null()]),
  r_mu: Count, r_ku: Count, r_lu: Count, r_bal: Count, r_res: Count,
  r_byp: Type.Union([Type.Boolean(), Type.Null()]),
});
type AnswerRow = Static<typeof AnswerRow>;
const answerRow = Compile(AnswerRow);

/** The fields of tollgate_request after `ord`, in its order (a test compares them with the type's). */
export const REQUEST_FIELDS = [
  'tid', 'tgen', 'uid', 'ugen', 'skid', 'skgen', 'idem', 'hash', 'shape', 'pre', 'meter', 'mlimit', 'may_bypass', 'kmeter', 'kcap', 'runs', 'cost',
  'ps', 'pe', 'role', 'res_id', 'res_key', 'res_hash', 'op', 'model', 'expires', 'event_id', 'key_event_id', 'audit_id', 'actor_type', 'actor_id',
  'request_id', 'route', 'dec_id', 'ptype', 'pid', 'puid', 'module',
] as const satisfies readonly (keyof DecideEntry)[];

const STATEMENT = 'SELECT * FROM tollgate_decide($1::tollgate_request[], $2::bigint, $3::timestamptz)';

/**
 * Runs the decision statement for `entries`, in one transaction; one answer per entry, in
 * order. A row that is not what the statement promises is a fault, never an answer.
 */
export async function decide(database: Database, entries: readonly DecideEntry[], at: Date): Promise<StatementAnswer[]> {
  const rows = await database.statement<unknown>(STATEMENT, [requestsLiteral(entries), entries[0]?.clow ?? null, at.toISOString()]);
  if (rows.length !== entries.length) throw new Error(`tollgate_decide answered ${rows.length} of ${entries.length} calls`);
  return rows.map((row) => {
    if (!answerRow.Check(row)) throw new Error(`tollgate_decide answered an unexpected row: ${JSON.stringify(row)}`);
    return answerOf(row, at);
  });
}

/** The batch as one tollgate_request[] literal, `ord` numbering the entries from 1. */
export function requestsLiteral(entries: readonly DecideEntry[]): string {
  return compositeArrayLiteral(entries.map((entry, i) => {
    const row: unknown[] = [i + 1];
    for (const field of REQUEST_FIELDS) row.push(entry[field]);
    return row;
  }));
}

function answerOf(row: AnswerRow, at: Date): StatementAnswer {
  switch (row.r_verdict) {
    case 'replay': {
      const stored = typeof row.r_stored === 'string' ? JSON.parse(row.r_stored) as unknown : row.r_stored;
      return { verdict: 'replay', stored: stored as StoredAnswer };
    }
    case 'admit':
      if (row.r_fail === null) throw new Error('tollgate_decide admitted a call without an outcome');
      return {
        verdict: 'admit',
        outcome: {
          kind: 'metered', fail: row.r_fail, meterUsed: row.r_mu, keyUsed: row.r_ku, runsUsed: row.r_lu,
          balance: row.r_bal, reserved: row.r_res, bypass: row.r_byp,
        },
        at,
      };
    default: return { verdict: row.r_verdict };
  }
}
