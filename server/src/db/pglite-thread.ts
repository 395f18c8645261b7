// The embedded database's own thread (pglite-remote.ts starts it): one PGlite, serving the
// calls its parent posts, in the order they arrive; PGlite's own locks order them as they
// would in one thread (a call outside a transaction waits for the open one to end).
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { localPglite, type PgliteClient, type PgliteQueries } from './pglite-client.js';
import type { Fault, PgliteReply, PgliteRequest, PgliteThreadOptions } from './pglite-remote.js';

const port = parentPort!;
const post = (reply: PgliteReply) => port.postMessage(reply);

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
    post({ id, value: await work() });
  } catch (error) {
    post({ id, fault: fault(error) });
  }
}

/** A transaction's callback ends with this to roll back without an error of the caller's. */
const ROLL_BACK = Symbol('roll back');
/** Results without what cannot cross (PGlite's own objects carry no functions, but a blob may). */
const plain = (result: { rows: unknown[]; fields: unknown[]; affectedRows?: number | undefined }) =>
  ({ rows: result.rows, fields: result.fields, affectedRows: result.affectedRows });

function serve(client: PgliteClient): void {
  const open = new Map<number, { tx: PgliteQueries; finish(commit: boolean): void; done: Promise<void> }>();
  const unlisten = new Map<number, () => Promise<void>>();
  const on = (tx: number | undefined): PgliteQueries => {
    if (tx === undefined) return client;
    const entry = open.get(tx);
    if (!entry) throw new Error(`no open transaction ${tx}`);
    return entry.tx;
  };

  // Answered once the transaction is open; it then holds PGlite until its `end`.
  const begin = (tx: number) => new Promise<void>((began, failed) => {
    // PGlite runs the callback after its BEGIN, by when `done` is set.
    const done: Promise<void> = client.transaction((queries) => new Promise<void>((commit, rollBack) => {
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
        const parsers = Object.fromEntries(request.verbatim.map((oid) => [oid, (text: string) => text]));
        return plain(await on(request.tx).query(request.text, request.params, { rowMode: request.rowMode, parsers }));
      }
      case 'exec': return (await on(request.tx).exec(request.text)).map(plain);
      case 'statement': return client.statement(request.text, request.params);
      case 'begin': return begin(request.tx);
      case 'end': return end(request.tx, request.commit);
      case 'listen':
        unlisten.set(request.listener, await client.listen(request.channel, (payload) => post({ listener: request.listener, payload })));
        return undefined;
      case 'unlisten': {
        const stop = unlisten.get(request.listener);
        unlisten.delete(request.listener);
        return stop?.();
      }
      case 'close': return client.close();
    }
  };
  port.on('message', (request: PgliteRequest & { id: number }) => void answer(request.id, () => run(request)));
}

await answer(0, async () => {
  const { dataDir, loadDataDirFile } = workerData as PgliteThreadOptions;
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    ...(loadDataDirFile ? { loadDataDir: new Blob([readFileSync(loadDataDirFile)]) } : {}),
  });
  serve(localPglite(pglite));
});
