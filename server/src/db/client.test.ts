import { Socket } from 'node:net';
import { sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { createTestDatabase, onPostgres } from '../../test/harness.js';
import { rows } from './client.js';

describe.skipIf(!onPostgres)('the decision statement\'s own connections (PostgreSQL)', () => {
  it('run every statement and nothing of the pool, and close with it', async () => {
    const db = await createTestDatabase({ poolSize: 3, statementConnections: 1 });
    try {
      const pid = 'SELECT pg_backend_pid() AS pid';
      // Pool and statements at once: the pool opens all its connections, so a shared one would be seen.
      const [statementPids, poolPids] = await Promise.all([
        Promise.all(Array.from({ length: 6 }, () => db.database.statement<{ pid: number }>(pid, []))),
        Promise.all(Array.from({ length: 6 }, () => rows<{ pid: number }>(db.database.db, sql.raw(`${pid}, pg_sleep(0.02)`)))),
      ]);
      const mine = new Set(statementPids.flat().map((r) => r.pid));
      const pool = new Set(poolPids.flat().map((r) => r.pid));
      expect(mine.size).toBe(1);
      expect(pool.size).toBe(3);
      expect([...pool].some((p) => mine.has(p))).toBe(false);
      const [backend] = [...mine];
      await db.database.close();
      const open = await db.asOwner<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [backend]);
      expect(open[0]!.n).toBe(0);
    } finally {
      await db.drop().catch(() => undefined);
    }
  });
});

describe.skipIf(!onPostgres)('the PostgreSQL client\'s connections', () => {
  // postgres.js leaves Nagle's algorithm on (patches/postgres+3.4.9.patch turns it off, as
  // libpq and node-postgres do): a decision batch written over a network in several
  // segments would hold its last one until the server acknowledged the others, up to a
  // delayed acknowledgement's 40 ms. Fails if the patch is lost (an upgrade of postgres.js).
  it('turn Nagle\'s algorithm off, the pool\'s and the decision statement\'s alike', async () => {
    const noDelay = vi.spyOn(Socket.prototype, 'setNoDelay');
    const db = await createTestDatabase({ poolSize: 1, statementConnections: 1 });
    try {
      await db.database.statement('SELECT 1', []);
      await rows(db.database.db, sql`SELECT 1`);
      const port = Number(new URL(db.url!).port || 5432);
      const calls = noDelay.mock.calls.map(([enable], i) => ({ enable, socket: noDelay.mock.contexts[i] as Socket }))
        .filter((call) => call.socket.remotePort === port);
      // Each connection's socket, once it is connected: the pool's and the statement's own.
      expect(new Set(calls.map((call) => call.socket)).size).toBeGreaterThanOrEqual(2);
      expect(calls.every((call) => call.enable === true)).toBe(true);
    } finally {
      noDelay.mockRestore();
      await db.drop().catch(() => undefined);
    }
  });
});
