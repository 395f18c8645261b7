import { type PGlite, type ParserOptions, parse, protocol } from '@electric-sql/pglite';

type BackendMessage = Parameters<typeof parse.parseResults>[0][number];

/**
 * A call's answer as the backend wrote it: the rows' description (kept from the prepare;
 * null for a statement without rows) and the bind/execute/sync exchange's bytes, in a
 * buffer of their own (the thread hands it over rather than copying it).
 */
export interface StatementReply {
  description: Uint8Array | null;
  rows: Uint8Array;
}

/** A text prepared on the server: its name there, and its rows' description. */
interface Prepared {
  name: string;
  description: Uint8Array | null;
}

/** PGlite's own locks (its `query` takes both): no statement runs inside someone else's transaction, nor beside another query. */
interface Exclusive {
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
  _runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>;
}

/** A type parser that leaves a column as the backend wrote it (both threads use it: a query's columns the caller parses, an array's unknown elements). */
export const verbatim = (text: string): string => text;

/** Backend message types read here (the first byte of each message). */
const ROW_DESCRIPTION = 0x54; // 'T'
const ERROR_RESPONSE = 0x45; // 'E'
const NOTIFICATION = 0x41; // 'A'

/**
 * `Database.statement` on PGlite, its half in the database's thread: each text prepared
 * once under a name, each call one exchange with the WebAssembly backend — bind, execute,
 * sync. PGlite's `query` sends a call as six exchanges and parses, analyses and plans the
 * text every time (issue 24). The answer is left as the backend's bytes: reading them
 * into rows (`statementRows`) is ~9 % of the thread's time per decision, and the thread,
 * not the server's, is what bounds an embedded Tollgate. Only a refusal is read here (to
 * throw it as PGlite would) and a notification (to deliver it: `notify`).
 */
export function pgliteExchange(client: PGlite, notify: (channel: string, payload: string) => void) {
  const prepared = new Map<string, Prepared>();
  let named = 0;
  const locks = client as unknown as Exclusive;

  async function prepare(text: string): Promise<Prepared> {
    const name = `tollgate_s${++named}`;
    const reply = refusedOrNot(await exchange(client, [
      protocol.serialize.parse({ name, text }), protocol.serialize.describe({ type: 'S', name }), protocol.serialize.sync(),
    ]), notify);
    const statement = { name, description: messageOf(reply, ROW_DESCRIPTION) };
    prepared.set(text, statement);
    return statement;
  }

  return async function statement(text: string, params: unknown[]): Promise<StatementReply> {
    const values = params.map(asText);
    await client.waitReady;
    return locks._runExclusiveTransaction(() => locks._runExclusiveQuery(async () => {
      const { name, description } = prepared.get(text) ?? await prepare(text);
      const reply = await exchange(client, [
        protocol.serialize.bind({ statement: name, values }), protocol.serialize.execute({}), protocol.serialize.sync(),
      ]);
      try {
        refusedOrNot(reply, notify);
      } catch (error) {
        // What the server has prepared no longer serves (a statement gone, or its rows' type
        // changed under it: the schema changed): the next call prepares the text again.
        if (STALE_STATEMENT.has((error as { code?: unknown }).code as string)) prepared.delete(text);
        throw error;
      }
      await client.syncToFs();
      return { description, rows: reply };
    }));
  };
}

/** The rows of a reply, parsed as PGlite's `query` parses them (`parseResults`, with the type parsers given: the client's). */
export function statementRows<T>(reply: StatementReply, parsers: ParserOptions): T[] {
  const messages = messagesOf(reply.description ? [reply.description, reply.rows] : [reply.rows]);
  const [result] = parse.parseResults(messages, parsers as Parameters<typeof parse.parseResults>[1]);
  return (result?.rows ?? []) as T[];
}

/**
 * One exchange with the backend, its reply copied once out of PGlite's buffers (views of
 * its WebAssembly memory) into one of its own: the thread hands the whole ArrayBuffer
 * over. Not Buffer.concat: a small Buffer may be a slice of Node's shared pool.
 */
async function exchange(client: PGlite, messages: Uint8Array[]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await client.execProtocolRawStream(Buffer.concat(messages), {
    syncToFs: false,
    onRawData: (data) => { chunks.push(new Uint8Array(data)); },
  });
  if (chunks.length === 1) return chunks[0]!;
  const reply = new Uint8Array(chunks.reduce((length, chunk) => length + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    reply.set(chunk, at);
    at += chunk.length;
  }
  return reply;
}

/** The reply, unless it holds the server's refusal (thrown as PGlite throws it); its notifications delivered. */
function refusedOrNot(reply: Uint8Array, notify: (channel: string, payload: string) => void): Uint8Array {
  if (!frameOf(reply, (type) => type === ERROR_RESPONSE || type === NOTIFICATION)) return reply;
  const messages = messagesOf([reply]);
  for (const message of messages) {
    if (message.name === 'notification') {
      const { channel, payload } = message as unknown as { channel: string; payload: string };
      notify(channel, payload);
    }
  }
  const refusal = messages.find((message) => message.name === 'error');
  if (refusal) throw refusal;
  return reply;
}

function messagesOf(buffers: Uint8Array[]): BackendMessage[] {
  const messages: BackendMessage[] = [];
  const parser = new protocol.Parser();
  for (const buffer of buffers) parser.parse(buffer, (message) => { messages.push(message); });
  return messages;
}

/** The place of the first backend message in `reply` whose type `matches` (each message: a type byte, then its length, itself included, as a 32-bit integer). */
function frameOf(reply: Uint8Array, matches: (type: number) => boolean): { start: number; end: number } | null {
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  for (let start = 0; start + 5 <= reply.length;) {
    const end = start + 1 + view.getInt32(start + 1);
    if (matches(reply[start]!)) return { start, end };
    start = end;
  }
  return null;
}

/** The first message of `type` in `reply`, copied out. */
function messageOf(reply: Uint8Array, type: number): Uint8Array | null {
  const frame = frameOf(reply, (t) => t === type);
  return frame ? reply.slice(frame.start, frame.end) : null;
}

/** invalid_sql_statement_name; feature_not_supported (raised as "cached plan must not change result type"). */
const STALE_STATEMENT = new Set(['26000', '0A000']);

/**
 * A parameter in PostgreSQL's text format. The statements here take strings (array
 * literals, instants already spelled), numbers and nulls; anything else would need a
 * spelling of its own (a Date's String() is not one PostgreSQL reads back exactly), so it
 * is a fault rather than a guess.
 */
function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string': return value;
    case 'number':
    case 'bigint':
    case 'boolean': return String(value);
    default: throw new TypeError(`a statement parameter must be a string, a number, a boolean or null, not ${Object.prototype.toString.call(value)}`);
  }
}
