import { desc, sql, type SQL } from 'drizzle-orm';
import { timestamp, type PgColumn } from 'drizzle-orm/pg-core';
import type { Position } from '../lib/cursor.js';

/** Every instant is stored with its time zone. */
export const at = (name: string) => timestamp(name, { withTimezone: true });

/**
 * Rows older than `before` in the (created_at, id) order of a keyset list; no condition
 * for the first page. A row comparison, not `created_at < x OR (created_at = x AND id < y)`:
 * PostgreSQL starts the index scan at the row compared with, where the OR form was a filter
 * on a scan from the newest row, so page n read every row of the n − 1 pages before it.
 */
export function olderThan(createdAt: PgColumn, id: PgColumn, before: Position | undefined): SQL | undefined {
  if (!before) return undefined;
  return sql`(${createdAt}, ${id}) < (${before.createdAt.toISOString()}::timestamptz, ${before.id})`;
}

/** Newest first, ids breaking ties: the order olderThan pages through. */
export function newestFirst(createdAt: PgColumn, id: PgColumn): SQL[] {
  return [desc(createdAt), desc(id)];
}

/**
 * The same order in JavaScript, to merge lists read from two sources: newest first, ids
 * breaking ties (ASCII ids: the same order here as in the database).
 */
export function newestRowFirst(a: { createdAt: Date; id: string }, b: { createdAt: Date; id: string }): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}
