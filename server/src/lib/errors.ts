export interface ErrorSpec {
  readonly status: number;
  readonly message: string;
}

/** Every module declares its codes in a table of this shape (its errors.ts); src/error-catalog.ts joins them. */
export type ErrorTable = Readonly<Record<string, ErrorSpec>>;

/** A table's codes, as a module's errors.ts adds them to ErrorCodes. */
export type CodesOf<T extends ErrorTable> = { readonly [K in keyof T]: true };

/** Codes every layer uses: malformed requests, credentials, generic refusals, the database out of reach. */
export const commonErrors = {
  VALIDATION_FAILED: { status: 400, message: 'The request does not match the schema.' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  MALFORMED_TEXT: { status: 400, message: 'Text in the request is not well-formed: a NUL character, a lone UTF-16 surrogate or a percent-escape that is not UTF-8.' },
  BAD_REQUEST: { status: 400, message: 'The request cannot be processed.' },
  UNAUTHENTICATED: { status: 401, message: 'A valid credential is required.' },
  FORBIDDEN: { status: 403, message: 'The credential does not allow this action.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed.' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state.' },
  IDEMPOTENCY_CONFLICT: { status: 409, message: 'The idempotency key was used with a different request.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  DATABASE_BUSY: { status: 503, message: 'Concurrent changes kept the request from completing; nothing was kept, try again.' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'The database cannot be reached; try again shortly.' },
} as const satisfies ErrorTable;

/**
 * The closed set of error codes: the common ones, and each module's, which its errors.ts
 * adds to this interface (declaration merging), so that lib/ imports nothing above it.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ErrorCodes extends CodesOf<typeof commonErrors> {}

export type ErrorCode = keyof ErrorCodes & string;

/**
 * A fault or a refusal that ends the request with the catalog's status for `code`.
 * Expected denials inside the decision path are values, not AppErrors.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message ?? code, options);
    this.name = 'AppError';
  }
}

/**
 * A command cannot start for a reason outside it (the data directory in use, the port
 * taken): the CLI prints the message alone, no stack trace, and exits 1.
 */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}
