import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../src/db/client.js';
import { inSystem } from '../src/db/scope.js';
import { createTestDatabase, onPostgres, type TestDatabase } from './harness.js';

if (!onPostgres) console.log('[tollgate] driver-faults suite (a backend terminated mid-transaction) needs DATABASE_URL: SKIPPED');

/**
 * postgres.js 3.4.9 ends the process (an uncaught TypeError from a timer) when a query is
 * written to a connection that closed while a transaction held it, as its ROLLBACK is
 * once the backend is gone (a PostgreSQL restart, a failover, pg_terminate_backend). The
 * patch in patches/postgres+3.4.9.patch fails that write with CONNECTION_CLOSED instead,
 * and keeps the rest of the transaction off the connection, which the pool may already be
 * reconnecting for another query. Without it this suite's worker dies, or a query gets
 * the rows of the reconnecting connection's own type query.
 */
describe.skipIf(!onPostgres)('a backend terminated in the middle of a transaction', () => {
  let db: TestDatabase;
  beforeAll(async () => { db = await createTestDatabase({ poolSize: 2 }); });
  afterAll(async () => { await db.drop(); });

  /** The pool answers a transaction correctly again, within a few tries. */
  async function servesAgain(): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const answer = await inSystem(db.database.db, (tx) => rows<{ three: number }>(tx, sql`SELECT 3 AS three`)).catch(() => undefined);
      if (answer?.length === 1 && answer[0]!.three === 3) return true;
    }
    return false;
  }

  it('fails that transaction as the database being out of reach, and the process and its pool go on', async () => {
    for (let i = 0; i < 3; i++) {
      const failed = inSystem(db.database.db, async (tx) => {
        const [me] = await rows<{ pid: number }>(tx, sql`SELECT pg_backend_pid() AS pid`);
        await db.asOwner('SELECT pg_terminate_backend($1)', [me!.pid]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await tx.execute(sql`SELECT 1`);
      });
      await expect(failed).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
      expect(await servesAgain()).toBe(true);
    }
  });

  it('answers the first query after such a failure with its own rows, never the reconnecting connection\'s', async () => {
    for (let i = 0; i < 10; i++) {
      const failed = inSystem(db.database.db, async (tx) => {
        const [me] = await rows<{ pid: number }>(tx, sql`SELECT pg_backend_pid() AS pid`);
        await db.asOwner('SELECT pg_terminate_backend($1)', [me!.pid]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await tx.execute(sql`SELECT 1`);
      });
      // The very next queries, issued while the failure unwinds and the pool reconnects.
      const next = Array.from({ length: 4 }, (_, n) => inSystem(db.database.db, (tx) => rows<{ mine: number }>(tx, sql`SELECT ${n + 100}::int AS mine`))
        .then((answer) => answer, (error: unknown) => error));
      await expect(failed).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
      for (const [n, answer] of (await Promise.all(next)).entries()) {
        // A query may fail with the connection (it was sent on it); one that answers, answers its own rows.
        if (Array.isArray(answer)) expect(answer, `query ${n}, round ${i}`).toEqual([{ mine: n + 100 }]);
      }
      const [own] = await inSystem(db.database.db, (tx) => rows<{ mine: number }>(tx, sql`SELECT 7::int AS mine`));
      expect(own).toEqual({ mine: 7 });
    }
  });
});
