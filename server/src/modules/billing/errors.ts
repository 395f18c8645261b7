import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const billingErrors = {
  INVALID_TRANSITION: { status: 409, message: 'The subscription cannot make this change from its current status.' },
  SUBSCRIPTION_NOT_FOUND: { status: 404, message: 'Subscription not found.' },
  SUBSCRIPTION_MANAGED_BY_PROVIDER: { status: 409, message: 'The subscription is kept by its payment provider: change it there.' },
  INVALID_TRIAL_END: { status: 400, message: 'A trial must end in the future.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof billingErrors> {}
}
