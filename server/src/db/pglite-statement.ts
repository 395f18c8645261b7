import { type PGlite, parse, protocol } from '@electric-sql/pglite';

type BackendMessage = Awaited<ReturnType<PGlite['execProtocolStream']>>[number];

/** A text prepared on the server: its name there, and its rows' description (parseResults reads the rows by it). */
interface Prepared {
  name: string;
  rowDescription: BackendMessage | undefined;
}

/** PGlite's own locks (its `query` takes both): no statement runs inside someone else's transaction, nor beside another query. */
interface Exclusive {
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
  _runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * `Database.statement` on PGlite: each text prepared once under a name, each call one
 * exchange with the WebAssembly backend — bind, execute, sync. PGlite's `query` sends a
 * call as six exchanges (parse, describe the statement, bind, describe the portal,
 * execute, sync) and parses, analyses and plans the text every time: for the decision
 * statement, ~0.4 ms of a ~10 ms batch of 64 (issue 24). The rows are parsed as `query`
 * parses them (`parseResults`, the client's type parsers); parameters go as text.
 */
export function pgliteStatement(client: PGlite) {
  const prepared = new Map<string, Prepared>();
  let named = 0;
  const locks = client as unknown as Exclusive;

  async function prepare(text: string): Promise<Prepared> {
    const name = `tollgate_s${++named}`;
    const messages = await client.execProtocolStream(Buffer.concat([
      protocol.serialize.parse({ name, text }),
      protocol.serialize.describe({ type: 'S', name }),
      protocol.serialize.sync(),
    ]), { syncToFs: false });
    const statement = { name, rowDescription: messages.find((m) => m.name === 'rowDescription') };
    prepared.set(text, statement);
    return statement;
  }

  return async function statement<T>(text: string, params: unknown[]): Promise<T[]> {
    await client.waitReady;
    return locks._runExclusiveTransaction(() => locks._runExclusiveQuery(async () => {
      const { name, rowDescription } = prepared.get(text) ?? await prepare(text);
      let messages: BackendMessage[];
      try {
        messages = await client.execProtocolStream(Buffer.concat([
          protocol.serialize.bind({ statement: name, values: params.map(asText) }),
          protocol.serialize.execute({}),
          protocol.serialize.sync(),
        ]), { syncToFs: false });
      } catch (error) {
        // What the server has prepared no longer serves (a statement gone, or its rows' type
        // changed under it: the schema changed): the next call prepares the text again.
        if (STALE_STATEMENT.has((error as { code?: unknown }).code as string)) prepared.delete(text);
        throw error;
      }
      await client.syncToFs();
      const [result] = parse.parseResults(rowDescription ? [rowDescription, ...messages] : messages, client.parsers);
      return (result?.rows ?? []) as T[];
    }));
  };
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
