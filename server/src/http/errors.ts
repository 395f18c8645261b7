import type { CodesOf, ErrorTable } from '../lib/errors.js';

/**
 * Codes of requests refused below the router, where Node reads the bytes (http/client-errors.ts):
 * each a status a client or proxy knows to act on (a 417 is retried without its Expect).
 */
export const httpErrors = {
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time: its headers and body must come within the time the server allows.' },
  EXPECTATION_FAILED: { status: 417, message: 'The only expectation the server meets is Expect: 100-continue.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request line and headers are larger than the server reads.' },
} as const satisfies ErrorTable;

declare module '../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof httpErrors> {}
}
