import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const apiKeysErrors = {
  API_KEY_NOT_FOUND: { status: 404, message: 'API key not found.' },
  API_KEY_NOT_ACTIVE: { status: 409, message: 'The API key is revoked, expired or already rotated.' },
  SERVICE_KEY_NOT_FOUND: { status: 404, message: 'Service key not found.' },
  INVALID_EXPIRY: { status: 400, message: 'expiresAt must be in the future.' },
  INSUFFICIENT_SCOPE: { status: 403, message: 'The API key does not have the scope this action needs.' },
  ON_BEHALF_OF_INVALID: { status: 400, message: 'Tollgate-On-Behalf-Of must be "<tenantId>:<userId>".' },
  ON_BEHALF_OF_FORBIDDEN: { status: 403, message: 'Only a service key may act on behalf of a user.' },
  ON_BEHALF_OF_REQUIRED: { status: 403, message: 'A service key must name a user of this tenant to act on (Tollgate-On-Behalf-Of).' },
  ON_BEHALF_OF_NOT_MEMBER: { status: 403, message: 'The user named on behalf of is not a member of this tenant.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof apiKeysErrors> {}
}
