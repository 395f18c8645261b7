import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/harness.js';
import { scansRun } from '../../../test/query-plans.js';
import { logPage } from './repo.js';

// A tenant's decision log as it stands since 0019: refusals (counted rows, 0016), and
// among them now and then an allowed row (a replay, or a decision logged before 0019).
const ROWS = 5000;
const ALLOWED_EVERY = 500;
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.asOwner(`INSERT INTO decision_log (tenant_id, id, principal_type, operation, allowed, code, replayed, created_at)
    SELECT t, 'dec_' || lpad(g::text, 26, '0'), 'api_key', 'clustering', g % ${ALLOWED_EVERY} = 0,
           CASE WHEN g % ${ALLOWED_EVERY} = 0 THEN 'OK' ELSE 'LIMIT_EXCEEDED' END, g % ${ALLOWED_EVERY} = 0,
           timestamptz '2026-12-01 00:00:00+00' + g * interval '1 ms'
      FROM generate_series(1, ${ROWS}) g, unnest(ARRAY['tnt_a', 'tnt_b']) t`);
  await db.asOwner('ANALYZE decision_log');
});
afterAll(async () => db?.drop());


describe('a page of the decision log', () => {
  for (const allowed of [true, false]) {
    it(`with allowed=${allowed} reads the page's rows alone, stepping over none of the others`, async () => {
      const limit = 4;
      const query = logPage(db.database.db, { tenantId: 'tnt_a', allowed, limit }).toSQL();
      const page = await db.asOwner<{ allowed: boolean }>(query.sql, query.params);
      expect(page.map((r) => r.allowed)).toEqual(Array(limit).fill(allowed));

      const [scan, ...others] = await scansRun(db, query);
      expect(others).toEqual([]);
      expect(scan!['Actual Rows']).toBe(limit);
      expect(scan!['Rows Removed by Filter'] ?? 0).toBe(0);
    });
  }
});
