import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const ratelimitErrors = {
  RATE_LIMIT_UNAVAILABLE: { status: 503, message: 'The rate-limit store is unreachable and this scope fails closed.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof ratelimitErrors> {}
}
