/** Reading a paginated list through to a point in time, for the per-day chart. */

const MAX_PAGES = 10;

/**
 * Pages of a newest-first list until an item is older than `since` (or the list ends,
 * or MAX_PAGES were read): what a chart of the last days needs.
 */
export async function collectSince<T extends { createdAt: string }>(
  page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>, since: Date,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let read = 0; read < MAX_PAGES; read++) {
    const answer = await page(cursor);
    items.push(...answer.items);
    const oldest = answer.items.at(-1);
    if (!answer.nextCursor || !oldest || new Date(oldest.createdAt) < since) break;
    cursor = answer.nextCursor;
  }
  return items;
}

export const CHART_DAYS = 30;

export function chartSince(days = CHART_DAYS): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (days - 1) * 86_400_000);
}
