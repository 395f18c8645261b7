import type { ErrorTable } from '../lib/errors.js';

/** Codes of the HTTP layer itself: malformed requests, credentials, generic refusals. */
export const httpErrors = {
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
