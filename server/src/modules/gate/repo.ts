import { and, eq, getTableColumns, lt, sql } from 'drizzle-orm';
import { arrayLiteral } from '../../db/array-literal.js';
import { rows as rowsOf, type Executor } from '../../db/client.js';
import { newestFirst, newestRowFirst, olderThan } from '../../db/columns.js';
import { DAY_MS } from '../../lib/clock.js';
import type { Position } from '../../lib/cursor.js';
import { firstIdAt } from '../../lib/ids.js';
import { decisionRecords, type ReservationRow } from '../credits/index.js';
import { bypassOf } from './outcome.js';
import { callKeyOf } from './prepare.js';
import { decisionCountFlushes, decisionLog } from './tables.js';

export type DecisionLogRow = typeof decisionLog.$inferSelect;

/**
 * The log's columns, from the table definition: each goes to the database as one array
 * parameter (`unnest($1::text[], …)`), read straight from the rows with no renamed copy of
 * each made first (that copy was 3.5 % of the server's CPU samples). Arrays, not one JSON
 * document of the rows: PostgreSQL reads them for 6–7 µs a row less than
 * `json_to_recordset`, and they are half the bytes (every row's field names).
 */
const LOG_COLUMNS = Object.entries(getTableColumns(decisionLog));
const LOG_NAMES = sql.raw(LOG_COLUMNS.map(([, column]) => column.name).join(', '));

/**
 * The whole chunk in one insert (a many-row insert through the query builder cost more
 * CPU on the hot process than the database spent inserting). Answers the rows written,
 * not those an earlier, interrupted flush already wrote: what the day counts add. The
 * database answers one row, their count, and names them only when some were skipped, so
 * a flush reads back no row per decision.
 */
export async function insertLog(db: Executor, rows: DecisionLogRow[]): Promise<DecisionLogRow[]> {
  if (rows.length === 0) return [];
  const columns = sql.join(LOG_COLUMNS.map(([field, column]) =>
    sql`${arrayLiteral(rows.map((row) => row[field as keyof DecisionLogRow]))}::${sql.raw(column.getSQLType())}[]`), sql`, `);
  const [result] = await rowsOf<{ written: number; tenants: string[] | null; ids: string[] | null }>(db, sql`WITH written AS (
    INSERT INTO decision_log (${LOG_NAMES}) SELECT * FROM unnest(${columns})
    ON CONFLICT DO NOTHING RETURNING tenant_id, id
  ) SELECT count(*)::int AS written,
           CASE WHEN count(*) < ${rows.length} THEN array_agg(tenant_id) END AS tenants, CASE WHEN count(*) < ${rows.length} THEN array_agg(id) END AS ids
      FROM written`);
  if (result!.written === rows.length) return rows;
  const keys = new Set((result!.ids ?? []).map((id, i) => `${result!.tenants![i]}\u0000${id}`));
  return rows.filter((row) => keys.has(`${row.tenantId}\u0000${row.id}`));
}

/**
 * A tenant's decisions, newest first: the decision log's rows (denials, replays, and the
 * allowed decisions from before 0019) and the reservations that record the allowed ones
 * since, each read up to `limit` through its own index and merged.
 */
export async function listLog(db: Executor, q: LogPage): Promise<DecisionLogRow[]> {
  const logged = await logPage(db, q);
  if (q.allowed === false) return logged;
  const recorded = (await decisionRecords(db, q)).map(decisionOf);
  return [...logged, ...recorded].sort(newestRowFirst).slice(0, q.limit);
}

interface LogPage { tenantId: string; allowed?: boolean | undefined; before?: Position | undefined; limit: number }

/** The decision log's part of a page of listLog, newest first. */
export function logPage(db: Executor, q: LogPage) {
  const conditions = [eq(decisionLog.tenantId, q.tenantId)];
  // Spelled out, not a parameter: a cached generic plan can then still use the allowed rows' or the denials' index (0023, 0017).
  if (q.allowed !== undefined) conditions.push(q.allowed ? sql`${decisionLog.allowed}` : sql`NOT ${decisionLog.allowed}`);
  return db.select().from(decisionLog).where(and(...conditions, olderThan(decisionLog.createdAt, decisionLog.id, q.before)))
    .orderBy(...newestFirst(decisionLog.createdAt, decisionLog.id)).limit(q.limit);
}

/** An allowed decision as its reservation records it (0019), spelled as a log row. */
function decisionOf(r: ReservationRow): DecisionLogRow {
  return {
    tenantId: r.tenantId, id: r.decisionId!, principalType: r.principalType!, principalId: r.principalId, userId: r.userId,
    operation: r.operation ?? '', module: r.module, model: r.model, allowed: true, code: 'OK', credits: r.amount, reservationId: r.id,
    bypass: bypassOf(r.bypass, r.role, r.meter), idempotencyKey: callKeyOf(r.idempotencyKey, r.decisionId!),
    replayed: false, requestId: r.requestId, createdAt: r.createdAt, calls: 1,
  };
}

/** How long a write of day counts keeps its id: the log retries a write for half as long at most (gate/log.ts). */
export const COUNT_WRITE_KEPT_MS = DAY_MS;

/**
 * Claims a write of day counts by its id, in the transaction that adds them: false when a
 * write under this id committed already (its reply was lost, and this is it again), so
 * its counts are not added twice. Ids older than a day go as each claim is made.
 */
export async function claimCountWrite(db: Executor, id: string, at: Date): Promise<boolean> {
  await db.delete(decisionCountFlushes).where(lt(decisionCountFlushes.id, firstIdAt('dcf', at.getTime() - COUNT_WRITE_KEPT_MS)));
  const claimed = await db.insert(decisionCountFlushes).values({ id, createdAt: at }).onConflictDoNothing().returning({ id: decisionCountFlushes.id });
  return claimed.length === 1;
}
