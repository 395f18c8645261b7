import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { arrayLiteral, compositeArrayLiteral } from '../../db/array-literal.js';
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
  op: string;
  model: string | null;
  expires: string | null;
  /** The key cap's usage event (the meter's is the reservation, 0020). */
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

/**
 * The fields of tollgate_request between `ord` and `ri`, in its order (a test compares
 * them with the type's). Not among them: `ps`, its counters' period start, and `route`,
 * one of the batch's routes (decide.sql says why).
 */
export const REQUEST_FIELDS = [
  'tid', 'tgen', 'uid', 'ugen', 'skid', 'skgen', 'idem', 'hash', 'shape', 'pre', 'meter', 'kmeter', 'role', 'res_id', 'res_key', 'op',
  'model', 'expires', 'key_event_id', 'audit_id', 'actor_type', 'actor_id', 'request_id', 'dec_id', 'ptype', 'pid', 'puid',
  'module',
] as const satisfies readonly (keyof DecideEntry)[];

/** What admission reads of each request, sent beside the rows as one array each (decide.sql says why). */
const ADMISSION_FIELDS = ['mlimit', 'may_bypass', 'kcap', 'runs', 'cost'] as const satisfies readonly (keyof DecideEntry)[];

/** The decision statement: tollgate_decide over `statementParams`. */
export const DECIDE_STATEMENT = `SELECT * FROM tollgate_decide($1::tollgate_request[], $2::bigint[], $3::boolean[], $4::bigint[], $5::bigint[], $6::bigint[],
  $7::int[], $8::int[], $9::int[], $10::text[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::text[], $15::bigint, $16::timestamptz, $17::jsonb[])`;

/**
 * Runs the decision statement for `entries`, in one transaction; one answer per entry, in
 * order. A row that is not what the statement promises is a fault, never an answer.
 */
export async function decide(database: Database, entries: readonly DecideEntry[], at: Date): Promise<StatementAnswer[]> {
  const rows = await database.statement<unknown>(DECIDE_STATEMENT, statementParams(entries, at));
  if (rows.length !== entries.length) throw new Error(`tollgate_decide answered ${rows.length} of ${entries.length} calls`);
  return rows.map((row) => {
    if (!answerRow.Check(row)) throw new Error(`tollgate_decide answered an unexpected row: ${JSON.stringify(row)}`);
    return answerOf(row, at);
  });
}

/** The statement's parameters for `entries`, in tollgate_decide's order. */
export function statementParams(entries: readonly DecideEntry[], at: Date): unknown[] {
  const rows = consumedRows(entries);
  const routes = batchRoutes(entries);
  return [
    requestsLiteral(entries, routes.ri),
    ...ADMISSION_FIELDS.map((field) => arrayLiteral(entries.map((entry) => entry[field]))),
    arrayLiteral(rows.mi), arrayLiteral(rows.ki), arrayLiteral(rows.ti),
    arrayLiteral(rows.counters.tid), arrayLiteral(rows.counters.meter), arrayLiteral(rows.counters.ps), arrayLiteral(rows.counters.pe),
    arrayLiteral(rows.tenants),
    entries[0]?.clow ?? null, at.toISOString(), arrayLiteral(routes.routes),
  ];
}

/** The batch as one tollgate_request[] literal, `ord` numbering the entries from 1, `ri` each one's route among the batch's (`batchRoutes`). */
export function requestsLiteral(entries: readonly DecideEntry[], ri: readonly (number | null)[]): string {
  return compositeArrayLiteral(entries.map((entry, i) => {
    const row: unknown[] = [i + 1];
    for (const field of REQUEST_FIELDS) row.push(entry[field]);
    row.push(ri[i]);
    return row;
  }));
}

/**
 * The batch's provider routes, each once, as JSON (a decision's route is one of its
 * tenant's few), and each request's place among them (from 1; null: it names none).
 */
export function batchRoutes(entries: readonly DecideEntry[]): { routes: string[]; ri: (number | null)[] } {
  const routes = new Places<string>();
  const ri = entries.map((entry) => {
    if (entry.route === null) return null;
    const json = JSON.stringify(entry.route);
    return routes.place(json, json);
  });
  return { routes: routes.values, ri };
}

/** Values each kept once, in the order first named, and the place (from 1) of each by its key. */
class Places<T> {
  readonly values: T[] = [];
  private readonly at = new Map<string, number>();

  place(key: string, value: T): number {
    let place = this.at.get(key);
    if (place === undefined) {
      place = this.values.push(value);
      this.at.set(key, place);
    }
    return place;
  }
}

/**
 * The rows the batch's requests may consume, each once — its counters (tenant, meter,
 * period) and its tenants (credit account, run slots) — and, per request, where its own
 * are among them (places from 1; null: it has none). Each row must appear once: the
 * statement counts a row's consumption in one place, and refuses a batch whose writes
 * touch fewer rows than it counted.
 */
export function consumedRows(entries: readonly DecideEntry[]) {
  const counters = new Places<{ tid: string; meter: string; ps: string | null; pe: string | null }>();
  const tenants = new Places<string>();
  const counter = (entry: DecideEntry, meter: string | null): number | null =>
    meter === null ? null : counters.place(`${entry.tid}\u0000${meter}\u0000${entry.ps}`, { tid: entry.tid, meter, ps: entry.ps, pe: entry.pe });
  const mi: (number | null)[] = [];
  const ki: (number | null)[] = [];
  const ti: number[] = [];
  for (const entry of entries) {
    ti.push(tenants.place(entry.tid, entry.tid));
    mi.push(counter(entry, entry.meter));
    ki.push(counter(entry, entry.kmeter));
  }
  const c = counters.values;
  return {
    mi, ki, ti, tenants: tenants.values,
    counters: { tid: c.map((r) => r.tid), meter: c.map((r) => r.meter), ps: c.map((r) => r.ps), pe: c.map((r) => r.pe) },
  };
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
