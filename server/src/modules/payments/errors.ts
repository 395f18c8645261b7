import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const paymentsErrors = {
  WEBHOOK_SIGNATURE_INVALID: { status: 400, message: 'The webhook signature is missing, invalid or too old.' },
  PAYMENT_NOT_FOUND: { status: 404, message: 'Payment not found.' },
  PAYMENT_NOT_PENDING: { status: 409, message: 'The payment is no longer awaited: it was confirmed, rejected or replaced.' },
  PLAN_NOT_BILLABLE: { status: 409, message: 'The plan has no price to pay: name a plan with a price.' },
  PAYMENT_AMOUNT_MISMATCH: { status: 409, message: 'The amount or currency does not cover what the plan costs for the periods paid.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof paymentsErrors> {}
}
