import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const authErrors = {
  INVALID_CREDENTIALS: { status: 401, message: 'The email, password or refresh token is not valid.' },
  WEAK_PASSWORD: { status: 400, message: 'The password is too short.' },
  IDENTITY_PROVIDER_UNAVAILABLE: { status: 503, message: 'The identity provider\'s signing keys could not be fetched; try again.' },
  EMAIL_NOT_VERIFIED: {
    status: 403,
    message: 'The account with this email has never verified it, so the identity provider\'s sign-in is not linked to it: sign in with the account\'s password, '
      + 'or reset the password (the reset mail verifies the email) and then sign in with the provider again.',
  },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof authErrors> {}
}
