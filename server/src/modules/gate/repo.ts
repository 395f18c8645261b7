import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import { rows as rowsOf, type Executor } from '../../db/client.js';
import { newestFirst, olderThan } from '../../db/columns.js';
import type { Position } from '../../lib/cursor.js';
import { decisionLog } from './tables.js';

export type DecisionLogRow = typeof decisionLog.$inferSelect;

/** The log's fields and the names of their columns, from the table definition. */
const LOG_COLUMNS = Object.entries(getTableColumns(decisionLog)).map(([field, column]) => [field as keyof DecisionLogRow, column.name] as const);

/**
 * The whole chunk as one jsonb parameter: building a many-row insert through the query
 * builder cost more CPU on the hot process than the database spent inserting.
 */
export async function insertLog(db: Executor, rows: DecisionLogRow[]): Promise<DecisionLogRow[]> {
  if (rows.length === 0) return [];
  const json = JSON.stringify(rows.map((row) => Object.fromEntries(LOG_COLUMNS.map(([field, name]) => [name, row[field]]))));
  // The rows written (not those an earlier, interrupted flush already wrote): what the day counts add.
  const written = await rowsOf<{ tenant_id: string; id: string }>(db, sql`INSERT INTO decision_log
    SELECT * FROM jsonb_populate_recordset(NULL::decision_log, ${json}::jsonb) ON CONFLICT DO NOTHING RETURNING tenant_id, id`);
  if (written.length === rows.length) return rows;
  const keys = new Set(written.map((w) => `${w.tenant_id}\u0000${w.id}`));
  return rows.filter((row) => keys.has(`${row.tenantId}\u0000${row.id}`));
}

export async function listLog(db: Executor, q: { tenantId: string; allowed?: boolean | undefined; before?: Position | undefined; limit: number }): Promise<DecisionLogRow[]> {
  const conditions = [eq(decisionLog.tenantId, q.tenantId)];
  if (q.allowed !== undefined) conditions.push(eq(decisionLog.allowed, q.allowed));
  return db.select().from(decisionLog).where(and(...conditions, olderThan(decisionLog.createdAt, decisionLog.id, q.before)))
    .orderBy(...newestFirst(decisionLog.createdAt, decisionLog.id)).limit(q.limit);
}
