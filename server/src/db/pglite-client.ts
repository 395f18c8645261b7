import type { QueryOptions, Results } from '@electric-sql/pglite';

/** What Tollgate asks of an embedded database, inside a transaction or not (drizzle's PGlite driver asks no more). */
export interface PgliteQueries {
  query<T = Record<string, unknown>>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  exec(text: string): Promise<Results[]>;
}

/**
 * An embedded PGlite as Tollgate uses it, in a worker thread of its own
 * (`startPgliteThread`, pglite-remote.ts): PGlite's own methods (drizzle's driver takes it
 * for a PGlite), `statement`, the decision's one-exchange path (pglite-statement.ts), and
 * `dump`, the database as one tar file (PGlite's `dumpDataDir`; `loadDataDirFile` opens one).
 */
export interface PgliteClient extends PgliteQueries {
  transaction<T>(fn: (tx: PgliteQueries) => Promise<T>): Promise<T>;
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  statement<T = Record<string, unknown>>(text: string, params: unknown[]): Promise<T[]>;
  dump(): Promise<Uint8Array>;
  close(): Promise<void>;
}
