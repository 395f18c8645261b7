/** Whether a database error (whichever driver raised it, however it is wrapped) has one of these SQLSTATEs. */
function hasSqlState(error: unknown, ...codes: string[]): boolean {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  return codes.some((code) => e?.code === code || e?.cause?.code === code);
}

/** A unique-constraint violation (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return hasSqlState(error, '23505');
}

/**
 * The transaction lost to a concurrent one (a serialization failure, 40001, or a
 * deadlock, 40P01) and was rolled back whole: running it again is safe.
 */
export function isConcurrencyFailure(error: unknown): boolean {
  return hasSqlState(error, '40001', '40P01');
}
