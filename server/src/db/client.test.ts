import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
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
