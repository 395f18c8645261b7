import { isDataRefusal } from './errors.js';

/**
 * Writes a batch of rows in one call. When the database refuses the batch for what a row
 * holds (isDataRefusal), one bad row must not hold back the others, nor be retried with
 * them forever: the batch is halved until each refused row is alone, every other row is
 * written, and each refused row goes to `onRefused` (to count and log; it is not kept).
 * Any other failure (the database out of reach) is thrown, for the caller to keep the
 * batch and try again later; `write` must therefore be idempotent (rows of a half written
 * before the failure are sent again).
 */
export async function writeIsolating<T>(rows: readonly T[], write: (rows: readonly T[]) => Promise<void>, onRefused: (row: T, error: unknown) => void): Promise<void> {
  if (rows.length === 0) return;
  try {
    await write(rows);
  } catch (error) {
    if (!isDataRefusal(error)) throw error;
    if (rows.length === 1) {
      onRefused(rows[0]!, error);
      return;
    }
    const half = Math.ceil(rows.length / 2);
    await writeIsolating(rows.slice(0, half), write, onRefused);
    await writeIsolating(rows.slice(half), write, onRefused);
  }
}
