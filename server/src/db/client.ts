import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { sql, type SQL } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import { lockDataDir } from './data-dir-lock.js';
import { migrate } from './migrate.js';
import type { PgliteClient } from './pglite-client.js';
import { startPgliteThread } from './pglite-remote.js';

type Schema = Record<string, never>;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Repos take either: a plain handle or a transaction. */
export type Executor = Db | Tx;

export type NotifyHandler = (payload: string) => void;

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Db;
  /**
   * Cross-process notifications (LISTEN/NOTIFY on PostgreSQL; in-process on PGlite).
   * `onListen` runs whenever the subscription is (re)established: notifications sent
   * while a connection was down are lost, so a listener can resynchronise there.
   */
  listen(channel: string, handler: NotifyHandler, onListen?: () => void): Promise<() => Promise<void>>;
  /**
   * How many connections, this process's included, are listening on `channel` now (on
   * PostgreSQL, every process's listen() connection is named after its channel; PGlite
   * is one process: 1). A process that changed something counts who must hear of it.
   */
  listeners(channel: string): Promise<number>;
  /**
   * pg_notify on `executor`: inside a transaction the notification is delivered at
   * commit and dropped on rollback (on PGlite as on PostgreSQL).
   */
  notify(channel: string, payload: string, executor?: Executor): Promise<void>;
  /**
   * One statement in its own transaction, prepared once per connection: a single round
   * trip, for the hot path (the batched decision). Row-level security applies as usual.
   */
  statement<T = Record<string, unknown>>(text: string, params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://… ; absent → embedded PGlite. */
  url?: string | undefined;
  /** PGlite data directory; absent → in memory. */
  dataDir?: string | undefined;
  /** Non-owner role the server acts as; '' keeps the login role. */
  appRole: string;
  poolSize?: number;
  /**
   * PostgreSQL: connections of `statement`'s own, beside the pool (absent: it shares the
   * pool). The driver hands out the pool's idle connections oldest first, so at a low rate
   * a statement run for every call visits each of the pool's backends in turn, each with
   * its caches gone cold; a few connections kept for it stay warm (issue 24: at 300
   * decisions/s, a decision statement's PostgreSQL CPU fell by a third).
   */
  statementConnections?: number | undefined;
  /**
   * PostgreSQL: how long a connection may take from dialling to ready for queries (default
   * 5). The driver's own default is 30 s, and a database host that drops packets rather
   * than refusing would hold every request that long before its 503.
   */
  connectTimeoutSeconds?: number | undefined;
  /** Run migrations before opening (default true). */
  migrate?: boolean;
  /**
   * An already opened embedded database (tests keep a handle to inspect it as its owner);
   * absent, PGlite is started in a thread of its own (db/pglite-remote.ts).
   */
  pglite?: PgliteClient;
  /** Told each step of opening (storage, each migration), for a person watching a start. */
  onProgress?: ((line: string) => void) | undefined;
}

/** Which storage these options open, for a person: the PGlite directory, or PostgreSQL's host, database and user (never the password). */
export function describeStorage(options: { url?: string | undefined; dataDir?: string | undefined }): string {
  if (!options.url) return options.dataDir ? `embedded PGlite in ${options.dataDir}` : 'embedded PGlite in memory';
  try {
    const url = new URL(options.url);
    const host = url.hostname || url.searchParams.get('host') || 'localhost';
    const user = url.username ? ` as ${decodeURIComponent(url.username)}` : '';
    return `PostgreSQL ${host}:${url.port || 5432}${url.pathname || '/'}${user}`;
  } catch {
    return 'PostgreSQL (DATABASE_URL is not a URL)';
  }
}

/** Rows of a raw statement, whichever driver runs it. */
export async function rows<T = Record<string, unknown>>(db: Executor, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options.url, options) : openPglite(options);
}

async function openPglite(options: DatabaseOptions): Promise<Database> {
  const progress = options.onProgress ?? (() => undefined);
  // Single owner: whoever opens a directory locks it first (db/data-dir-lock.ts).
  const lock = options.dataDir && !options.pglite ? lockDataDir(options.dataDir) : undefined;
  const dataDir = options.dataDir ? join(options.dataDir, 'pgdata') : undefined;
  let client: PgliteClient | undefined;
  try {
    const fresh = dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'));
    progress(`opening storage: ${describeStorage(options)}${fresh ? ' (none there yet: creating the database)' : ''}`);
    const opened = options.pglite ?? await startPgliteThread({ dataDir });
    client = opened;
    if (options.migrate !== false) {
      await migrate({ kind: 'pglite', exec: (text) => opened.exec(text).then(() => undefined), query: async (text) => (await opened.query(text)).rows as Record<string, unknown>[] }, options.appRole, { onProgress: progress });
    }
    // PGlite is one connection: switching role once makes RLS apply to every later query.
    if (options.appRole) await opened.exec(`SET ROLE ${quoteIdent(options.appRole)}`);
  } catch (error) {
    if (client && !options.pglite) await client.close().catch(() => undefined);
    lock?.release();
    throw error;
  }
  // drizzle's driver calls no more of a PGlite than PgliteClient has.
  const db = drizzlePglite({ client: client as unknown as PGlite }) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    async listen(channel, handler, onListen) {
      const unsubscribe = await client.listen(channel, handler);
      onListen?.();
      return unsubscribe;
    },
    listeners: async () => 1,
    notify: (channel, payload, executor) => pgNotify(executor ?? db, channel, payload),
    // Like PGlite's query, it waits for any open transaction, so it never runs inside one of drizzle's.
    statement: (text, params) => client.statement(text, params),
    async close() {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  const connectTimeout = options.connectTimeoutSeconds ?? 5;
  options.onProgress?.(`opening storage: ${describeStorage(options)}`);
  if (options.migrate !== false) {
    const admin = postgres(url, { max: 1, onnotice: () => undefined, connect_timeout: connectTimeout });
    try {
      await migrate({
        kind: 'postgres',
        exec: async (text) => { await admin.unsafe(text); },
        query: async (text) => [...(await admin.unsafe(text))] as Record<string, unknown>[],
      }, options.appRole, { onProgress: options.onProgress });
    } finally {
      await admin.end();
    }
  }
  const connect = (max: number, applicationName?: string) => postgres(url, {
    max,
    connect_timeout: connectTimeout,
    onnotice: () => undefined,
    connection: {
      ...(options.appRole ? { options: `-c role=${options.appRole}` } : {}),
      ...(applicationName ? { application_name: applicationName } : {}),
    } as Record<string, string>,
  });
  const client = connect(options.poolSize ?? 20);
  const [role] = await client<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }[]>`
    SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`;
  if (!role || role.rolsuper || role.rolbypassrls) {
    await client.end();
    throw new Error(
      `refusing to start: database role "${role?.rolname}" is a superuser or has BYPASSRLS, so row-level security would not apply. ` +
      'Connect as (or set TOLLGATE_DB_ROLE to) a plain role.',
    );
  }
  const db = drizzlePostgres({ client }) as unknown as Db;
  const statements = options.statementConnections ? connect(options.statementConnections) : client;
  const listening = new Set<postgres.Sql>();
  return {
    kind: 'postgres',
    db,
    async listen(channel, handler, onListen) {
      // A client of its own, so that its connection carries the channel's name (listeners()).
      const listener = connect(1, listenerName(channel));
      listening.add(listener);
      const { unlisten } = await listener.listen(channel, handler, onListen);
      return async () => {
        await unlisten();
        listening.delete(listener);
        await listener.end({ timeout: 5 });
      };
    },
    async listeners(channel) {
      const [row] = await client<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = ${listenerName(channel)}`;
      return row!.n;
    },
    notify: (channel, payload, executor) => pgNotify(executor ?? db, channel, payload),
    statement: async <T>(text: string, params: unknown[]) => [...await statements.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })] as T[],
    async close() {
      await Promise.all([client, ...listening, ...(statements === client ? [] : [statements])].map((c) => c.end({ timeout: 5 })));
    },
  };
}

/** A listening connection's application_name (PostgreSQL keeps 63 bytes of it; channels here are short). */
function listenerName(channel: string): string {
  return `tollgate listen ${channel}`;
}

async function pgNotify(executor: Executor, channel: string, payload: string): Promise<void> {
  await executor.execute(sql`SELECT pg_notify(${channel}, ${payload})`);
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid identifier: ${name}`);
  return `"${name}"`;
}

export { sql };
