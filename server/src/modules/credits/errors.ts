import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const creditsErrors = {
  OPERATION_NOT_FOUND: { status: 400, message: 'No operation (or alias) with this name exists in the cost table.' },
  MODEL_NOT_PRICED: { status: 400, message: 'The operation has no price for this model.' },
  QUANTITY_NOT_PRICED: { status: 400, message: 'The quantity names a unit this operation is not priced by.' },
  INSUFFICIENT_CREDITS: { status: 409, message: 'The tenant\'s available credits do not cover this amount.' },
  RESERVATION_NOT_FOUND: { status: 404, message: 'Reservation not found.' },
  RESERVATION_EXPIRED: { status: 409, message: 'The reservation expired; its credits were released.' },
  RESERVATION_RESOLVED: { status: 409, message: 'The reservation was already resolved another way.' },
  REFUND_EXCEEDS_CHARGE: { status: 409, message: 'A refund cannot exceed what the reservation charged.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof creditsErrors> {}
}
