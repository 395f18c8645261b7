import { and, desc, eq, lt, or, type SQL } from 'drizzle-orm';
import { timestamp, type PgColumn } from 'drizzle-orm/pg-core';
import type { Position } from '../lib/cursor.js';

/** Every instant is stored with its time zone. */
export const at = (name: string) => timestamp(name, { withTimezone: true });

/** Rows older than `before` in the (created_at, id) order of a keyset list; no condition for the first page. */
export function olderThan(createdAt: PgColumn, id: PgColumn, before: Position | undefined): SQL | undefined {
  if (!before) return undefined;
  return or(lt(createdAt, before.createdAt), and(eq(createdAt, before.createdAt), lt(id, before.id)));
}

/** Newest first, ids breaking ties: the order olderThan pages through. */
export function newestFirst(createdAt: PgColumn, id: PgColumn): SQL[] {
  return [desc(createdAt), desc(id)];
}
