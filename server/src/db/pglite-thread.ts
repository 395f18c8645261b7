// The embedded database's own thread (pglite-remote.ts starts it): one PGlite, serving the
// calls its parent posts, in the order they arrive; PGlite's own locks order them as they
// would in one thread (a call outside a transaction waits for the open one to end).
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { PgliteQueries } from './pglite-client.js';
import type { Fault, PgliteOpened, PgliteReply, PgliteRequest, PgliteThreadOptions } from './pglite-remote.js';
import { pgliteExchange, verbatim } from './pglite-statement.js';

const port = parentPort!;

/** A value whose buffers go to the parent rather than a copy of them (they are not used here again). */
class Handover {
  constructor(readonly value: unknown, readonly buffers: ArrayBuffer[]) {}
}

function fault(error: unknown): Fault {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Fault['fields'] = {};
  for (const [key, value] of Object.entries(error)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) fields[key] = value as Fault['fields'][string];
  }
  return { name: error.name, message: error.message, fields };
}

async function answer(id: number, work: () => Promise<unknown>): Promise<void> {
  try {
    const value = await work();
    if (value instanceof Handover) port.postMessage({ id, value: value.value } satisfies PgliteReply, value.buffers);
    else port.postMessage({ id, value } satisfies PgliteReply);
  } catch (error) {
    // The work failed, or its value could not be cloned: either way the caller is told, and the thread goes on.
    port.postMessage({ id, fault: fault(error) } satisfies PgliteReply);
  }
}

/** A transaction's callback ends with this to roll back without an error of the caller's. */
const ROLL_BACK = Symbol('roll back');
/** Results as plain data (a blob, where PGlite attaches one, stays here). */
const plain = (result: { rows: unknown[]; fields: unknown[]; affectedRows?: number | undefined }) =>
  ({ rows: result.rows, fields: result.fields, affectedRows: result.affectedRows });
/** A channel as PostgreSQL names it (PGlite's rule for LISTEN: quoted as written, else lower case). */
const postgresName = (channel: string) => (channel.startsWith('"') && channel.endsWith('"') ? channel.slice(1, -1) : channel.toLowerCase());

/** The array types PGlite parses (as its `_initArrayTypes` reads them): the parent parses statements' rows with the same parsers. */
async function arrayTypes(pglite: PGlite): Promise<[number, number][]> {
  const { rows } = await pglite.query<{ element: number; array: number }>(`SELECT b.oid AS element, b.typarray AS array
    FROM pg_catalog.pg_type a LEFT JOIN pg_catalog.pg_type b ON b.oid = a.typelem WHERE a.typcategory = 'A' GROUP BY b.oid, b.typarray ORDER BY b.oid`);
  return rows.map((row) => [row.array, row.element]);
}

function serve(pglite: PGlite): void {
  const open = new Map<number, { tx: Transaction; finish(commit: boolean): void; done: Promise<void> }>();
  const listeners = new Map<number, { channel: string; stop: () => Promise<void> }>();
  const heard = (listener: number, payload: string) => port.postMessage({ listener, payload } satisfies PgliteReply);
  // A statement's own notifications (it reads its reply itself, where PGlite's query would deliver them).
  const statement = pgliteExchange(pglite, (channel, payload) => {
    for (const [listener, entry] of listeners) if (entry.channel === channel) heard(listener, payload);
  });
  const on = (tx: number | undefined): PgliteQueries => {
    if (tx === undefined) return pglite;
    const entry = open.get(tx);
    if (!entry) throw new Error(`no open transaction ${tx}`);
    return entry.tx;
  };

  // Answered once the transaction is open; it then holds PGlite until its `end`.
  const begin = (tx: number) => new Promise<void>((began, failed) => {
    // PGlite runs the callback after its BEGIN, by when `done` is set.
    const done: Promise<void> = pglite.transaction((queries) => new Promise<void>((commit, rollBack) => {
      open.set(tx, { tx: queries, finish: (yes) => (yes ? commit() : rollBack(ROLL_BACK)), done });
      began();
    })).finally(() => open.delete(tx));
    done.catch(failed);
  });
  const end = async (tx: number, commit: boolean) => {
    const entry = open.get(tx);
    if (!entry) throw new Error(`no open transaction ${tx}`);
    entry.finish(commit);
    await entry.done.catch((error: unknown) => {
      if (error !== ROLL_BACK) throw error;
    });
  };

  const run = async (request: PgliteRequest): Promise<unknown> => {
    switch (request.op) {
      case 'query': {
        const parsers = Object.fromEntries(request.verbatim.map((oid) => [oid, verbatim]));
        return plain(await on(request.tx).query(request.text, request.params, { rowMode: request.rowMode, parsers }));
      }
      case 'exec': return (await on(request.tx).exec(request.text)).map(plain);
      case 'statement': {
        const reply = await statement(request.text, request.params);
        return new Handover(reply, [reply.rows.buffer as ArrayBuffer]);
      }
      case 'begin': return begin(request.tx);
      case 'end': return end(request.tx, request.commit);
      case 'listen': {
        // Known before LISTEN runs, so that a statement in between delivers to it as PGlite's own query would.
        const entry = { channel: postgresName(request.channel), stop: async () => undefined as void };
        listeners.set(request.listener, entry);
        try {
          entry.stop = await pglite.listen(request.channel, (payload) => heard(request.listener, payload));
        } catch (error) {
          listeners.delete(request.listener);
          throw error;
        }
        return undefined;
      }
      case 'unlisten': {
        const entry = listeners.get(request.listener);
        listeners.delete(request.listener);
        return entry?.stop();
      }
      case 'dump': {
        const tar = new Uint8Array(await (await pglite.dumpDataDir('none')).arrayBuffer());
        return new Handover(tar, [tar.buffer as ArrayBuffer]);
      }
      case 'close': return pglite.close();
    }
  };
  port.on('message', (request: PgliteRequest & { id: number }) => void answer(request.id, () => run(request)));
}

await answer(0, async (): Promise<PgliteOpened> => {
  const { dataDir, loadDataDirFile } = workerData as PgliteThreadOptions;
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    ...(loadDataDirFile ? { loadDataDir: new Blob([readFileSync(loadDataDirFile)]) } : {}),
  });
  const opened = { arrayTypes: await arrayTypes(pglite) };
  serve(pglite);
  return opened;
});
