/** A unique-constraint violation (SQLSTATE 23505), whichever driver raised it and however it is wrapped. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code === '23505' || e?.cause?.code === '23505';
}
