import { and, eq } from 'drizzle-orm';
import { pgTable, QueryBuilder, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/harness.js';
import { scansRun } from '../../test/query-plans.js';
import { at, newestFirst, olderThan } from './columns.js';

// A keyset list as the logs have it, under both index layouts the schema uses: the
// newest-first index beside an id key (audit_log, credit_ledger) and the ascending
// (tenant_id, created_at, id) primary key read backwards (usage_events, decision_log).
const layouts = {
  desc: 'CREATE TABLE paged_desc (tenant_id text NOT NULL, id text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id));' +
    'CREATE INDEX paged_desc_time_idx ON paged_desc (tenant_id, created_at DESC, id DESC);',
  asc: 'CREATE TABLE paged_asc (tenant_id text NOT NULL, id text NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, created_at, id));',
};
const ROWS = 3000;
const PAGE = 50;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  for (const [name, ddl] of Object.entries(layouts)) {
    await db.asOwner(ddl);
    // Three rows to an instant, so ids break ties; a second tenant's rows between them.
    await db.asOwner(`INSERT INTO paged_${name} SELECT t, 'row_' || lpad(g::text, 6, '0'), timestamptz '2026-12-01 00:00:00+00' + (g / 3) * interval '1 ms'
      FROM generate_series(1, ${ROWS}) g, unnest(ARRAY['tnt_a', 'tnt_b']) t`);
    await db.asOwner(`ANALYZE paged_${name}`);
  }
});
afterAll(async () => db?.drop());


describe('a keyset page (olderThan, newestFirst)', () => {
  for (const name of Object.keys(layouts)) {
    it(`starts at the cursor, reading no row of the pages before it (${name} index)`, async () => {
      const table = pgTable(`paged_${name}`, { tenantId: text('tenant_id').notNull(), id: text('id').notNull(), createdAt: at('created_at').notNull() });
      // The cursor is the last row of page 40 of tenant a: row 1000, whose instant it shares with row 1001.
      const before = { createdAt: new Date(T0 + Math.floor(1000 / 3)), id: 'row_001000' };
      const query = new QueryBuilder().select({ id: table.id }).from(table)
        .where(and(eq(table.tenantId, 'tnt_a'), olderThan(table.createdAt, table.id, before)))
        .orderBy(...newestFirst(table.createdAt, table.id)).limit(PAGE).toSQL();

      const page = await db.asOwner<{ id: string }>(query.sql, query.params);
      expect(page.map((r) => r.id)).toEqual(Array.from({ length: PAGE }, (_, i) => `row_${String(999 - i).padStart(6, '0')}`));

      const [scan, ...others] = await scansRun(db, query);
      expect(others).toEqual([]);
      expect(scan!['Actual Rows']).toBe(PAGE);
      expect(scan!['Rows Removed by Filter'] ?? 0).toBe(0);
    });
  }
});
