import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { types, type ParserOptions, type QueryOptions, type Results } from '@electric-sql/pglite';
import type { PgliteClient, PgliteQueries } from './pglite-client.js';
import { statementRows, verbatim, type StatementReply } from './pglite-statement.js';

/** Where the thread's PGlite keeps its files: a directory, or in memory loaded from a dump (`dumpDataDir`'s tar file). */
export interface PgliteThreadOptions {
  dataDir?: string | undefined;
  loadDataDirFile?: string | undefined;
}

/** A call to the thread; `tx` names a transaction opened by `begin`, absent outside one. */
export type PgliteRequest =
  | { op: 'query'; text: string; params: unknown[] | undefined; rowMode: QueryOptions['rowMode']; verbatim: number[]; tx: number | undefined }
  | { op: 'exec'; text: string; tx: number | undefined }
  | { op: 'begin'; tx: number }
  | { op: 'end'; tx: number; commit: boolean }
  | { op: 'statement'; text: string; params: unknown[] }
  | { op: 'listen'; channel: string; listener: number }
  | { op: 'unlisten'; listener: number }
  | { op: 'dump' }
  | { op: 'close' };

/** The thread's first answer: its database open, with the array types PGlite found in it (pairs of the array's and its element's type). */
export interface PgliteOpened {
  arrayTypes: [number, number][];
}

/** An error as it crosses the threads: its class's name, its message and its plain fields (a database error's code, detail, …). */
export interface Fault {
  name: string;
  message: string;
  fields: Record<string, string | number | boolean | null>;
}

/** The thread's messages: an answer to call `id` (0: the database opened), or a notification for a listener. */
export type PgliteReply =
  | { id: number; value: unknown }
  | { id: number; fault: Fault }
  | { listener: number; payload: string };

const RESTORED: Record<string, ErrorConstructor> = { TypeError, RangeError, SyntaxError };

function revive(fault: Fault): Error {
  const error = new (RESTORED[fault.name] ?? Error)(fault.message);
  return Object.assign(error, fault.fields);
}

/** The thread is gone (it failed, or the database was closed): what a dropped connection is on PostgreSQL, a 503 to retry. */
function stopped(reason: string): Error {
  return Object.assign(new Error(`the embedded database's thread stopped: ${reason}`), { code: 'CONNECTION_ENDED' });
}

type Waiting = { resolve(value: unknown): void; reject(error: Error): void };

/** The calls in flight to the thread, each settled by the reply with its id; every one of them failed if the thread stops. */
class ThreadCalls {
  readonly listeners = new Map<number, (payload: string) => void>();
  private readonly pending = new Map<number, Waiting>();
  private next = 0;
  private failure: Error | undefined;

  constructor(private readonly worker: Worker) {
    worker.on('message', (reply: PgliteReply) => {
      if ('listener' in reply) this.listeners.get(reply.listener)?.(reply.payload);
      else if ('fault' in reply) this.settle(reply.id)?.reject(revive(reply.fault));
      else this.settle(reply.id)?.resolve(reply.value);
    });
    worker.on('error', (error) => this.fail(stopped(error.message)));
    worker.on('exit', (code) => this.fail(stopped(`exit code ${code}`)));
  }

  get stopped(): boolean {
    return this.failure !== undefined;
  }

  /** A number no call nor listener has had. */
  id(): number {
    return ++this.next;
  }

  call<T>(request: PgliteRequest): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.id();
    const answer = this.waitFor<T>(id);
    try {
      this.worker.postMessage({ ...request, id });
    } catch (error) {
      // A parameter that cannot be cloned (a function, a symbol): nothing was sent.
      this.settle(id)?.reject(error as Error);
    }
    return answer;
  }

  /** The thread's first reply (id 0): its database opened, or why not. */
  opened(): Promise<PgliteOpened> {
    return this.waitFor(0);
  }

  /** Calls from now on are refused with `error`; those in flight are still answered. */
  refuse(error: Error): void {
    this.failure ??= error;
  }

  /** And those in flight fail too (the thread is gone). */
  fail(error: Error): void {
    this.refuse(error);
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.failure!);
  }

  private waitFor<T>(id: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.track();
    });
  }

  private settle(id: number): Waiting | undefined {
    const waiting = this.pending.get(id);
    this.pending.delete(id);
    this.track();
    return waiting;
  }

  /** Idle, the thread does not keep the process alive (nor does an embedded PGlite); a call in flight does. */
  private track(): void {
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }
}

/**
 * PGlite's WebAssembly backend runs synchronously on whichever thread calls it, so in the
 * server's own thread every statement stops HTTP, JSON and the decision's JavaScript for
 * its whole length (issue 24: ~74 % of an in-process run's wall time was statements, the
 * rest JavaScript that could not overlap them). Here it has a worker thread of its own,
 * spoken to by messages; a call costs ~0.1 ms more in latency, and on two cores the next
 * batch is prepared while the last one runs. PGlite's own `PGliteWorker` needs the
 * browser's `navigator.locks`, which Node 20 lacks.
 *
 * Type parsers are functions and cannot cross: a query's `parsers` are applied here, to
 * the text the thread leaves those columns in, and a statement's rows are read here from
 * the bytes the backend wrote (pglite-statement.ts), with the parsers PGlite would use.
 */
export async function startPgliteThread(options: PgliteThreadOptions): Promise<PgliteClient> {
  const worker = spawn(options);
  const calls = new ThreadCalls(worker);
  const { arrayTypes } = await calls.opened().catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  const parsers = statementParsers(arrayTypes);
  let transactions = 0;
  let closing: Promise<void> | undefined;
  return {
    ...queriesOn(calls, undefined),
    async transaction<T>(fn: (tx: PgliteQueries) => Promise<T>): Promise<T> {
      const tx = ++transactions;
      await calls.call({ op: 'begin', tx });
      let result: T;
      try {
        result = await fn(queriesOn(calls, tx));
      } catch (error) {
        await calls.call({ op: 'end', tx, commit: false });
        throw error;
      }
      await calls.call({ op: 'end', tx, commit: true });
      return result;
    },
    async listen(channel, handler) {
      const listener = calls.id();
      calls.listeners.set(listener, handler);
      try {
        await calls.call({ op: 'listen', channel, listener });
      } catch (error) {
        calls.listeners.delete(listener);
        throw error;
      }
      return async () => {
        calls.listeners.delete(listener);
        await calls.call({ op: 'unlisten', listener });
      };
    },
    statement: async (text, params) => statementRows(await calls.call<StatementReply>({ op: 'statement', text, params }), parsers),
    dump: () => calls.call({ op: 'dump' }),
    close() {
      closing ??= closeThread(calls, worker);
      return closing;
    },
  };
}

/** PGlite closed, then the thread ended; a call made from the moment of closing is refused here (PGlite would run it on a backend half torn down). */
async function closeThread(calls: ThreadCalls, worker: Worker): Promise<void> {
  const last = calls.stopped ? undefined : calls.call({ op: 'close' });
  calls.refuse(stopped('closed'));
  try {
    await last;
  } finally {
    calls.fail(stopped('closed'));
    await worker.terminate();
  }
}

function queriesOn(calls: ThreadCalls, tx: number | undefined): PgliteQueries {
  return {
    async query<T>(text: string, params?: unknown[], queryOptions?: QueryOptions) {
      const { rowMode, parsers, ...rest } = queryOptions ?? {};
      if (Object.keys(rest).length > 0) throw new TypeError(`query options not passed to the database's thread: ${Object.keys(rest).join(', ')}`);
      const result = await calls.call<Results<T>>({ op: 'query', text, params, rowMode, verbatim: parsers ? Object.keys(parsers).map(Number) : [], tx });
      if (parsers) applyParsers(result, parsers, rowMode);
      return result;
    },
    exec: (text) => calls.call({ op: 'exec', text, tx }),
  };
}

/** The thread, started from its TypeScript source through tsx's loader (a worker has none of its parent's), or from JavaScript as it is. */
function spawn(options: PgliteThreadOptions): Worker {
  const typescript = import.meta.url.endsWith('.ts');
  const entry = new URL(typescript ? './pglite-thread.ts' : './pglite-thread.js', import.meta.url);
  if (!typescript) return new Worker(entry, { workerData: options });
  const boot = `import(${JSON.stringify(tsxApi())}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true, workerData: options, execArgv: [] });
}

/** The type parsers a PGlite has (its defaults, an array parser for each array type it found): a statement's rows are read with them here. */
function statementParsers(arrayTypes: [number, number][]): ParserOptions {
  const parsers: ParserOptions = { ...types.parsers };
  for (const [array, element] of arrayTypes) parsers[array] = (text) => types.arrayParser(text, parsers[element] ?? verbatim, array);
  return parsers;
}

/** Where tsx's ESM API is: import.meta.resolve, or where a module runner lacks it (vitest's global setup), tsx's own export map. */
function tsxApi(): string {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
    const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
    return pathToFileURL(join(dirname(manifest), exports['./esm/api']!.import.default)).href;
  }
}

function applyParsers(result: Results<unknown>, parsers: ParserOptions, rowMode: QueryOptions['rowMode']): void {
  result.fields.forEach((field, index) => {
    const parse = parsers[field.dataTypeID];
    if (!parse) return;
    const key = rowMode === 'array' ? index : field.name;
    for (const row of result.rows as Record<string | number, unknown>[]) {
      const value = row[key];
      if (value !== null && value !== undefined) row[key] = parse(value as string);
    }
  });
}
