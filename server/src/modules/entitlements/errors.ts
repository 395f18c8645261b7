import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const entitlementsErrors = {
  METER_NOT_FOUND: { status: 400, message: 'No meter with this name exists in the configuration.' },
  MODULE_NOT_IN_PLAN: { status: 409, message: 'The tenant\'s plan does not include this module; it cannot be enabled.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof entitlementsErrors> {}
}
