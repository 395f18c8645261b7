import type { CodesOf, ErrorTable } from '../../lib/errors.js';

export const routingErrors = {
  ROUTE_NOT_FOUND: { status: 404, message: 'Route not found.' },
  ROUTE_INVALID: { status: 400, message: 'The route cannot be used as given.' },
  ROUTE_LIMIT_REACHED: { status: 409, message: 'The tenant has as many provider routes as it may (routing.maxRoutesPerTenant): delete one first, or replace one.' },
  ROLE_ARN_TAKEN: { status: 409, message: 'Another tenant\'s route names this IAM role: a role is one tenant\'s (each tenant creates its own, trusting its own external ID).' },
  NOT_IN_PLAN: { status: 403, message: 'The tenant\'s plan does not allow this (own provider accounts: a plan with byoProvider).' },
  DECISION_NOT_FOUND: { status: 404, message: 'No admitted decision of this tenant has that id.' },
  DECISION_NOT_ACTIVE: { status: 409, message: 'The decision\'s reservation is settled, released or expired: ask for a new decision.' },
  ROUTE_UNAVAILABLE: { status: 409, message: 'The decision\'s route has no credentials to give: it runs on the platform\'s account, or the tenant\'s route is gone or disabled since.' },
  PROVIDER_CREDENTIALS_FAILED: { status: 502, message: 'The provider refused to issue credentials for the route.' },
} as const satisfies ErrorTable;

declare module '../../lib/errors.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ErrorCodes extends CodesOf<typeof routingErrors> {}
}
