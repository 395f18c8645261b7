import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const gateErrors = {
  MODULE_MISMATCH: { status: 400, message: 'The operation belongs to another module than the one named.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof gateErrors> {}
}
