import { isStorableInstant } from './clock.js';
import { AppError } from './errors.js';

/** A row id as lists page by: prefixed ids, and the shorter ones of rows written by hand or before them. */
const CURSOR_ID = /^[0-9A-Za-z_:.-]{1,100}$/;

/** A row's place in a newest-first list: its creation time, then its id (ids break ties). */
export interface Position { createdAt: Date; id: string }

/** Opaque keyset cursor: the position of the last row of the previous page. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.createdAt.toISOString(), position.id])).toString('base64url');
}

/**
 * A cursor a client sent back: any text may come, so what reaches the query is checked —
 * an instant PostgreSQL can read, an id of plain characters (a NUL is refused as text).
 */
export function decodeCursor(cursor: string): Position {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const createdAt = new Date(String(at));
    if (typeof id !== 'string' || !CURSOR_ID.test(id) || !isStorableInstant(createdAt.getTime())) throw new Error('bad cursor');
    return { createdAt, id };
  } catch {
    throw new AppError('VALIDATION_FAILED', 'cursor is not valid');
  }
}

export interface Page<T> { items: T[]; nextCursor: string | null }

/**
 * One page of a newest-first keyset list: `fetch` reads up to `limit` rows older than
 * `before` (one more than the page, to tell whether another page follows).
 */
export async function keysetPage<T extends Position>(
  q: { cursor?: string | undefined; limit: number },
  fetch: (before: Position | undefined, limit: number) => Promise<T[]>,
): Promise<Page<T>> {
  const found = await fetch(q.cursor ? decodeCursor(q.cursor) : undefined, q.limit + 1);
  const items = found.slice(0, q.limit);
  const last = items.at(-1);
  return { items, nextCursor: found.length > q.limit && last ? encodeCursor(last) : null };
}
