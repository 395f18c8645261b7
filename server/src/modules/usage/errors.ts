import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const usageErrors = {
  DATE_RANGE_INVERTED: { status: 400, message: 'from must not be after to.' },
  DATE_RANGE_TOO_LONG: { status: 400, message: 'The date range is longer than a usage summary or export may span.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof usageErrors> {}
}
