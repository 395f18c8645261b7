import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE, createTestDatabase, onPostgres, type TestDatabase } from '../../test/harness.js';
import { rows } from './client.js';
import { databaseFailure, isUniqueViolation } from './errors.js';
import type { PgliteClient } from './pglite-client.js';
import { startPgliteThread } from './pglite-remote.js';

// PGlite in a thread of its own (pglite-remote.ts), as every PGlite suite and `tollgate
// serve` run it: what crosses between the threads arrives as it would from PGlite itself.
describe.skipIf(onPostgres)('the embedded database\'s thread', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
    await t.asOwner(`CREATE TABLE thread_probe (x int PRIMARY KEY, at timestamptz); GRANT SELECT, INSERT ON thread_probe TO ${APP_ROLE}`);
  });
  afterAll(async () => t.drop());

  it('passes a database error across with its SQLSTATE and fields', async () => {
    await rows(t.database.db, sql`INSERT INTO thread_probe VALUES (1, now())`);
    const error = await rows(t.database.db, sql`INSERT INTO thread_probe VALUES (1, now())`).catch((e: unknown) => e);
    expect(isUniqueViolation(error)).toBe(true);
    expect((error as { cause: unknown }).cause).toMatchObject({ code: '23505', constraint: 'thread_probe_pkey', table: 'thread_probe', severity: 'ERROR' });
  });

  it('commits a transaction that returns, rolls back one that throws with the caller\'s own error', async () => {
    await t.database.db.transaction(async (tx) => {
      await tx.execute(sql`INSERT INTO thread_probe VALUES (2, now())`);
      await tx.transaction(async (inner) => inner.execute(sql`INSERT INTO thread_probe VALUES (3, now())`));
    });
    const mine = new Error('changed my mind');
    await expect(t.database.db.transaction(async (tx) => {
      await tx.execute(sql`INSERT INTO thread_probe VALUES (4, now())`);
      throw mine;
    })).rejects.toBe(mine);
    expect(await t.asOwner('SELECT x FROM thread_probe WHERE x > 1 ORDER BY x')).toEqual([{ x: 2 }, { x: 3 }]);
  });

  it('applies a query\'s type parsers in the caller\'s thread (drizzle keeps instants as text)', async () => {
    const [row] = await rows<{ at: unknown }>(t.database.db, sql`SELECT '2026-12-06 08:00:00+00'::timestamptz AS at`);
    expect(row!.at).toBe('2026-12-06 08:00:00+00');
  });

  it('delivers notifications to the listener, at commit, until it stops listening', async () => {
    const heard: string[] = [];
    const stop = await t.database.listen('thread_probe', (payload) => heard.push(payload));
    await t.database.db.transaction(async (tx) => {
      await t.database.notify('thread_probe', 'in a transaction', tx);
      expect(heard).toEqual([]);
    });
    await t.database.notify('thread_probe', 'alone');
    await stop();
    await t.database.notify('thread_probe', 'after');
    await t.database.statement('SELECT 1', []);
    expect(heard).toEqual(['in a transaction', 'alone']);
  });

  describe('on its own', () => {
    let client: PgliteClient;
    beforeAll(async () => { client = await startPgliteThread({}); });

    it('refuses query options that cannot cross', async () => {
      await expect(client.query('SELECT 1', [], { paramTypes: [23] })).rejects.toThrow(/paramTypes/);
      expect((await client.query<{ n: string }>('SELECT $1::int AS n', [7], { parsers: { 23: (x) => `int ${x}` } })).rows).toEqual([{ n: 'int 7' }]);
    });

    it('refuses a parameter that cannot cross, having sent nothing, and goes on', async () => {
      await expect(client.query('SELECT $1::text AS t', [() => 'a function'])).rejects.toThrow(/could not be cloned/);
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });

    it('once closing, answers every new call as a database out of reach (a 503), the calls before it as usual', async () => {
      const before = client.query('SELECT 2 AS two');
      const closing = client.close();
      const error = await client.query('SELECT 1').catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'CONNECTION_ENDED' });
      expect(databaseFailure(error)?.code).toBe('DATABASE_UNAVAILABLE');
      expect((await before).rows).toEqual([{ two: 2 }]);
      await Promise.all([closing, client.close()]);
      await expect(client.statement('SELECT 1', [])).rejects.toMatchObject({ code: 'CONNECTION_ENDED' });
    });
  });

  it('refuses to start where PGlite cannot open', async () => {
    const notADirectory = fileURLToPath(import.meta.url);
    await expect(startPgliteThread({ dataDir: notADirectory })).rejects.toThrow();
  });

  it('does not keep a process alive while idle (a refused call included), nor let it end with a call in flight', () => {
    const remote = new URL('./pglite-remote.ts', import.meta.url).href;
    const script = `const { startPgliteThread } = await import(${JSON.stringify(remote)});
      const client = await startPgliteThread({});
      await client.query('SELECT $1::text', [() => 'cannot be cloned']).catch(() => undefined);
      const { rows } = await client.query('SELECT 41 + 1 AS n');
      console.log(JSON.stringify(rows));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.signal).toBeNull();
    expect(child.stdout.trim()).toBe('[{"n":42}]');
    expect(child.status).toBe(0);
  });
});
