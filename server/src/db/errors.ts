import { AppError } from '../lib/errors.js';

/** Whether a database error (whichever driver raised it, however it is wrapped) has one of these SQLSTATEs or driver codes. */
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

/** PostgreSQL's own refusals of a connection: connection exceptions, shutting down or starting up, full. */
const UNREACHABLE_STATES = ['08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03', '53300'];
/** The driver's and the socket's, when there is no server to ask. */
const UNREACHABLE_CODES = ['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'];

/**
 * The database could not be reached (down, restarting, out of connections, the network
 * between): nothing about the request was wrong, and the same request may succeed in a
 * moment. What the request began is rolled back with its connection, unless the
 * connection broke while the commit was on its way: then it may have committed, which
 * is why a decision should be retried with its idempotency key. The socket's own codes
 * are taken for the database's: it is the one network peer whose errors reach the error
 * handler (Redis failures follow the rate limiter's fail modes, an identity provider's
 * become IDENTITY_PROVIDER_UNAVAILABLE).
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  return hasSqlState(error, ...UNREACHABLE_STATES, ...UNREACHABLE_CODES);
}

/**
 * An outage or a pile-up, not a bug: the database out of reach, or a transaction that kept
 * losing to concurrent ones (where a path retries such a conflict itself, as the decision
 * does three times, this is the last). Either is a 503 to retry in a second, with the
 * driver's error as its cause. undefined for any other error (an AppError included).
 */
export function databaseFailure(error: unknown): AppError | undefined {
  if (error instanceof AppError) return undefined;
  const code = isDatabaseUnreachable(error) ? 'DATABASE_UNAVAILABLE' : isConcurrencyFailure(error) ? 'DATABASE_BUSY' : undefined;
  if (!code) return undefined;
  return new AppError(code, undefined, { retryAfterMs: 1000 }, { cause: error });
}

/**
 * The database refused what a statement carries rather than the statement itself: a data
 * exception (SQLSTATE class 22, such as text jsonb cannot hold) or an integrity violation
 * (class 23). Sent again, the same rows fail the same way.
 */
export function isDataRefusal(error: unknown): boolean {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  return [e?.code, e?.cause?.code].some((code) => typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code));
}

/** The database's own words for a refusal, without the statement and parameters a driver wraps them in (a row may hold what a log must not). */
export function refusalReason(error: unknown): { sqlState: string | undefined; reason: string } {
  const e = error as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } } | null;
  const source = typeof e?.cause?.code === 'string' ? e.cause : e;
  return { sqlState: typeof source?.code === 'string' ? source.code : undefined, reason: String(source?.message ?? error).split('\n')[0]!.slice(0, 200) };
}
