import type { PGlite, QueryOptions, Results } from '@electric-sql/pglite';
import { pgliteStatement } from './pglite-statement.js';

/** What Tollgate asks of an embedded database, inside a transaction or not (drizzle's PGlite driver asks no more). */
export interface PgliteQueries {
  query<T = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  exec(text: string): Promise<Results[]>;
}

/**
 * An embedded PGlite as Tollgate uses it: PGlite's own methods (drizzle's driver takes it
 * for a PGlite) and `statement`, the decision's one-exchange path (pglite-statement.ts).
 * Either the PGlite of this thread (`localPglite`) or one in a worker thread of its own
 * (`startPgliteThread`, pglite-remote.ts), which is how `tollgate serve` runs it.
 */
export interface PgliteClient extends PgliteQueries {
  transaction<T>(fn: (tx: PgliteQueries) => Promise<T>): Promise<T>;
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  statement<T = Record<string, unknown>>(text: string, params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A PGlite of this thread. */
export function localPglite(pglite: PGlite): PgliteClient {
  return {
    query: (text, params, options) => pglite.query(text, params, options),
    exec: (text) => pglite.exec(text),
    transaction: (fn) => pglite.transaction(fn),
    listen: (channel, handler) => pglite.listen(channel, handler),
    statement: pgliteStatement(pglite),
    close: () => pglite.close(),
  };
}
