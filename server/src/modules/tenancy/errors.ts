import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const tenancyErrors = {
  EMAIL_TAKEN: { status: 409, message: 'An account with this email already exists.' },
  TENANT_NOT_FOUND: { status: 404, message: 'Tenant not found.' },
  MEMBER_NOT_FOUND: { status: 404, message: 'Member not found.' },
  USER_NOT_FOUND: { status: 404, message: 'User not found.' },
  LAST_OWNER: { status: 409, message: 'The last owner of a tenant cannot be removed or demoted.' },
  LAST_OPERATOR: { status: 409, message: 'The last active operator cannot be deactivated.' },
  ALREADY_MEMBER: { status: 409, message: 'The user is already a member of this tenant.' },
  INVITATION_INVALID: { status: 404, message: 'The invitation does not exist, has expired or was already used.' },
  INVITATION_EMAIL_MISMATCH: { status: 403, message: 'The invitation was sent to another email address.' },
  ROLE_NOT_ALLOWED: { status: 403, message: 'Your role cannot grant this role.' },
  TENANT_SUSPENDED: { status: 403, message: 'The tenant is suspended.' },
  TENANT_CLOSED: { status: 403, message: 'The tenant is closed.' },
  USER_DEACTIVATED: { status: 403, message: 'The user is deactivated.' },
  PAYMENT_REQUIRED: { status: 402, message: 'The tenant\'s subscription is not in good standing (past due, canceled or awaiting payment).' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof tenancyErrors> {}
}
