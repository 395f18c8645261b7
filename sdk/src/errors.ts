/**
 * Errors: a call that failed (`TollgateError` and its kinds), a run that was refused
 * (`Denied`) and a run replayed after it ended (`AlreadyResolved`). Neither of the last
 * two is a `TollgateError`: code that catches `TollgateError` to carry on while Tollgate
 * is unreachable (failing open, its choice) must not carry on past a refusal, nor run
 * work again that was already paid for or given up.
 */
import type { ErrorBody, ErrorCode, Reservation } from './schema.js';
import type { Decision, DecisionCode } from './decision.js';

export interface TollgateErrorDetails {
  /** The catalog code (docs/errors.md); null when no answer came. A newer server may send a code this SDK does not list. */
  code?: ErrorCode | (string & {}) | null;
  /** The HTTP status; null when no answer came. */
  status?: number | null;
  /** The server's `x-request-id`: quote it when reporting a problem. */
  requestId?: string | null;
  /** What the server asked the caller to wait (`Retry-After`), in milliseconds, when it said. */
  retryAfterMs?: number | null;
  /** The error body as the server sent it. */
  body?: unknown;
  cause?: unknown;
}

/** A call Tollgate answered with an error, or that got no answer. The subclass says the kind. */
export class TollgateError extends Error {
  readonly code: ErrorCode | (string & {}) | null;
  readonly status: number | null;
  readonly requestId: string | null;
  readonly retryAfterMs: number | null;
  readonly body: unknown;

  constructor(message: string, details: TollgateErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code ?? null;
    this.status = details.status ?? null;
    this.requestId = details.requestId ?? null;
    this.retryAfterMs = details.retryAfterMs ?? null;
    this.body = details.body;
  }

  override toString(): string {
    const parts = [this.code ? `${this.code}: ${this.message}` : this.message];
    if (this.status !== null) parts.push(`status ${this.status}`);
    if (this.requestId) parts.push(`request ${this.requestId}`);
    return `${this.name}: ${parts.join(' · ')}`;
  }
}

/** 400 (and 405, 413, 415; 417 and 431 are kinds of it): the request is wrong and nothing was written; do not send it again as is. */
export class BadRequest extends TollgateError {}
/** 417: an `Expect` other than `100-continue`; nothing was read. Send it again without that header. */
export class ExpectationFailed extends BadRequest {}
/** 431: the request line and headers are over what the server reads (16 KiB), a credential or a header too long; nothing was read. */
export class HeadersTooLarge extends BadRequest {}
/** 401: the credential is unknown, revoked or expired. */
export class Unauthenticated extends TollgateError {}
/** 402: the tenant's subscription is not in good standing. */
export class PaymentRequired extends TollgateError {}
/** 403: the credential may not do this (role, scope, tenant suspended, on-behalf-of missing). */
export class Forbidden extends TollgateError {}
/** 404: no such object, or one of another tenant (the two are indistinguishable on purpose). */
export class NotFound extends TollgateError {}
/** 409: an idempotency key reused for another request, a reservation already resolved or expired, … */
export class Conflict extends TollgateError {}
/**
 * 408 after the retries the client allows: the server had not received the whole request
 * within its `http.requestTimeoutSeconds` (a stalled upload, a link too slow), so it read
 * none of it and did nothing. Not `TollgateTimeout`, which is the client's own limit.
 */
export class RequestTimeout extends TollgateError {}
/** 429 after the retries the client allows; `retryAfterMs` says when to come back. */
export class RateLimited extends TollgateError {}
/** 503 after the client's retries: the database or the rate-limit store is out of reach. */
export class ServiceUnavailable extends TollgateError {}
/** Any other 5xx. */
export class ServerError extends TollgateError {}
/** No answer: the connection was refused or broke (after the client's retries). */
export class TollgateConnectionError extends TollgateError {}
/** No answer within the client's `timeoutMs` (after its retries). */
export class TollgateTimeout extends TollgateConnectionError {}

// Named here, not from the class (a minifier renames classes): `error.name` is what logs show.
const KINDS = {
  TollgateError, BadRequest, ExpectationFailed, HeadersTooLarge, Unauthenticated, PaymentRequired, Forbidden, NotFound, Conflict,
  RequestTimeout, RateLimited, ServiceUnavailable, ServerError, TollgateConnectionError, TollgateTimeout,
};
for (const [name, kind] of Object.entries(KINDS)) Object.defineProperty(kind.prototype, 'name', { value: name, configurable: true, writable: true });

const BY_STATUS: Readonly<Record<number, typeof TollgateError>> = {
  400: BadRequest, 401: Unauthenticated, 402: PaymentRequired, 403: Forbidden, 404: NotFound, 405: BadRequest,
  408: RequestTimeout, 409: Conflict, 413: BadRequest, 415: BadRequest, 417: ExpectationFailed, 429: RateLimited, 431: HeadersTooLarge,
  503: ServiceUnavailable,
};

/** The error for an answer that is not a success: its kind from the status, the rest from the body and headers. */
export function errorFromAnswer(response: Response, body: unknown): TollgateError {
  const kind = BY_STATUS[response.status] ?? (response.status >= 500 ? ServerError : TollgateError);
  const error = isErrorBody(body) ? body.error : undefined;
  return new kind(error?.message || `HTTP ${response.status}`, {
    code: error?.code ?? null,
    status: response.status,
    requestId: error?.requestId || response.headers.get('x-request-id'),
    retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
    body,
  });
}

function isErrorBody(body: unknown): body is ErrorBody {
  const error = (body as { error?: unknown } | null)?.error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date (RFC 9110); null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | null {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, when - now);
}

/** Thrown by `run()` when Tollgate refuses the run: `code` says why, `decision` is the whole answer. */
export class Denied extends Error {
  readonly code: DecisionCode;
  readonly decision: Decision;

  constructor(decision: Decision) {
    super(`Tollgate refused the run: ${decision.code}${decision.message ? ` (${decision.message})` : ''}`);
    this.name = 'Denied';
    this.code = decision.code;
    this.decision = decision;
  }

  /** For `RATE_LIMITED`: milliseconds until the tenant's bucket has room again. */
  get retryAfterMs(): number | null {
    return this.decision.retryAfterMs ?? null;
  }
}

/**
 * Thrown by `run()`, before the work runs, when its decision was a replay (an
 * `idempotencyKey` used before) and that earlier run's reservation is no longer held: it
 * was settled (the work was done and paid for: `charged`), or released or expired (the
 * earlier attempt failed or gave up; a new attempt needs a new idempotency key).
 */
export class AlreadyResolved extends Error {
  readonly decision: Decision;
  /** The earlier run's reservation as the server has it now. */
  readonly reservation: Reservation;

  constructor(decision: Decision, reservation: Reservation) {
    const charged = reservation.status === 'settled' ? `, ${reservation.charged} credits charged` : '';
    const retry = reservation.status === 'settled' ? '' : '; run it again under a new idempotency key';
    super(`run() with idempotency key "${decision.idempotencyKey}" already ran: its reservation ${reservation.id} is ${reservation.status}${charged}; the work is not run again${retry}`);
    this.name = 'AlreadyResolved';
    this.decision = decision;
    this.reservation = reservation;
  }

  /** `settled`, `released` or `expired`. */
  get status(): Reservation['status'] {
    return this.reservation.status;
  }

  /** What the earlier run was charged (0 unless settled). */
  get charged(): number {
    return this.reservation.charged;
  }
}
