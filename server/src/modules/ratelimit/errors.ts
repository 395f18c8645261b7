import type { ErrorTable } from '../../lib/errors.js';

export const ratelimitErrors = {
  RATE_LIMIT_UNAVAILABLE: { status: 503, message: 'The rate-limit store is unreachable and this scope fails closed.' },
} as const satisfies ErrorTable;
