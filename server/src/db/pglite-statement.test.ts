import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE, createTestDatabase, onPostgres, type TestDatabase } from '../../test/harness.js';
import { rows } from './client.js';

// Database.statement, on either driver: typed rows as the drivers' queries answer them, a
// server's error as itself, nothing of a failed call kept. On PGlite it is pglite-statement.ts.
describe('a statement', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await t.asOwner(`CREATE TABLE statement_probe (x int); GRANT SELECT, INSERT ON statement_probe TO ${APP_ROLE}`);
  });
  afterAll(async () => t.drop());

  it('answers typed rows, parameters sent as text', async () => {
    const typed = 'SELECT $1::int AS n, $2::text AS t, $3::boolean AS b, NULL::text AS z, $4::float8 AS f';
    for (let i = 0; i < 2; i++) {
      expect(await t.database.statement(typed, [7, 'it\'s "quoted"', true, 1.5])).toEqual([{ n: 7, t: 'it\'s "quoted"', b: true, z: null, f: 1.5 }]);
    }
    expect(await t.database.statement('SELECT x FROM generate_series(1, $1::int) x', [3])).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }]);
    expect(await t.database.statement('SELECT 1 AS one WHERE false', [])).toEqual([]);
  });

  it('fails with the server\'s error, keeps nothing of the failed call, and the next call runs', async () => {
    const insertThenDivide = 'WITH w AS (INSERT INTO statement_probe VALUES ($1::int) RETURNING x) SELECT 10 / x AS q FROM w';
    await expect(t.database.statement(insertThenDivide, [0])).rejects.toMatchObject({ code: '22012', severity: 'ERROR' });
    expect(await t.database.statement(insertThenDivide, [5])).toEqual([{ q: 2 }]);
    expect(await t.asOwner('SELECT x FROM statement_probe')).toEqual([{ x: 5 }]);
  });

  it('fails to prepare a text the server refuses, and keeps no statement for it', async () => {
    await expect(t.database.statement('SELECT no_such_column FROM statement_probe', [])).rejects.toMatchObject({ code: '42703' });
    await expect(t.database.statement('SELECT no_such_column FROM statement_probe', [])).rejects.toMatchObject({ code: '42703' });
  });

  it('delivers the notifications it sends to whoever listens', async () => {
    let heard!: (payload: string) => void;
    const payload = new Promise<string>((resolve) => { heard = resolve; });
    const stop = await t.database.listen('statement_probe', (p) => heard(p));
    try {
      expect(await t.database.statement('SELECT pg_notify(\'statement_probe\', $1::text) AS sent', ['from a statement'])).toEqual([{ sent: '' }]);
      expect(await payload).toBe('from a statement');
    } finally {
      await stop();
    }
  });

  describe.skipIf(onPostgres)('on PGlite, one connection', () => {
    it('answers as PGlite\'s own query does, its type parsers included', async () => {
      const text = 'SELECT $1::jsonb AS j, $2::bigint[] AS a, $3::timestamptz AS at, $4::smallint AS s, $5::bigint AS big';
      const params = ['{"a":[1,"x"],"b":null}', '{1,NULL,3}', '2026-12-06T06:00:00.000Z', 4, '9007199254740993'];
      const mine = await t.database.statement(text, params);
      expect(mine).toEqual(await t.asOwner(text, params));
      expect(mine[0]).toMatchObject({ j: { a: [1, 'x'], b: null }, s: 4 });
    });

    it('is prepared once per text', async () => {
      const count = 'SELECT count(*)::int AS n FROM pg_prepared_statements';
      const [before] = await t.database.statement<{ n: number }>(count, []);
      for (let i = 0; i < 3; i++) await t.database.statement('SELECT $1::int + 1 AS next', [i]);
      expect(await t.database.statement(count, [])).toEqual([{ n: before!.n + 1 }]);
    });

    it('refuses a parameter it has no spelling for, and sends nothing', async () => {
      await expect(t.database.statement('SELECT $1::timestamptz AS at', [new Date(0)])).rejects.toThrow(TypeError);
      expect(await t.database.statement('SELECT $1::timestamptz AS at', ['1970-01-01T00:00:00.000Z'])).toEqual([{ at: new Date(0) }]);
    });

    it('is prepared again once the schema changed under it', async () => {
      await t.asOwner(`CREATE FUNCTION statement_probe_rows() RETURNS TABLE (a int) LANGUAGE sql AS 'SELECT 1';
        GRANT EXECUTE ON FUNCTION statement_probe_rows() TO ${APP_ROLE}`);
      const text = 'SELECT * FROM statement_probe_rows()';
      expect(await t.database.statement(text, [])).toEqual([{ a: 1 }]);
      await t.asOwner(`DROP FUNCTION statement_probe_rows(); CREATE FUNCTION statement_probe_rows() RETURNS TABLE (a int, b int) LANGUAGE sql AS 'SELECT 1, 2';
        GRANT EXECUTE ON FUNCTION statement_probe_rows() TO ${APP_ROLE}`);
      // The call that finds it changed fails, as PostgreSQL fails it; the next is prepared anew.
      await expect(t.database.statement(text, [])).rejects.toMatchObject({ code: '0A000' });
      expect(await t.database.statement(text, [])).toEqual([{ a: 1, b: 2 }]);
    });

    it('waits for a transaction in progress rather than running inside it', async () => {
      let release!: () => void;
      const held = new Promise<void>((resolve) => { release = resolve; });
      const transaction = t.database.db.transaction(async (tx) => {
        await tx.execute(sql`INSERT INTO statement_probe VALUES (41)`);
        await held;
        await tx.execute(sql`INSERT INTO statement_probe VALUES (42)`);
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      let answered = false;
      const seen = t.database.statement<{ n: number }>('SELECT count(*)::int AS n FROM statement_probe WHERE x > 40', []).then((r) => {
        answered = true;
        return r;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(answered).toBe(false);
      release();
      await transaction;
      expect(await seen).toEqual([{ n: 2 }]);
      expect(await rows(t.database.db, sql`SELECT count(*)::int AS n FROM statement_probe WHERE x > 40`)).toEqual([{ n: 2 }]);
    });
  });
});
