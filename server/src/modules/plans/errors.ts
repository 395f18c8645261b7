import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const plansErrors = {
  PLAN_NOT_FOUND: { status: 400, message: 'No plan with this name exists in the catalog.' },
  MODULE_NOT_FOUND: { status: 404, message: 'No module with this name exists.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof plansErrors> {}
}
