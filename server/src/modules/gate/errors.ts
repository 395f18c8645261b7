import type { ErrorTable } from '../../lib/errors.js';

export const gateErrors = {
  MODULE_MISMATCH: { status: 400, message: 'The operation belongs to another module than the one named.' },
} as const satisfies ErrorTable;
