import { commonErrors, type ErrorCode, type ErrorSpec } from './lib/errors.js';
import { httpErrors } from './http/errors.js';
import { apiKeysErrors } from './modules/apikeys/index.js';
import { authErrors } from './modules/auth/index.js';
import { billingErrors } from './modules/billing/index.js';
import { creditsErrors } from './modules/credits/index.js';
import { entitlementsErrors } from './modules/entitlements/index.js';
import { gateErrors } from './modules/gate/index.js';
import { paymentsErrors } from './modules/payments/index.js';
import { plansErrors } from './modules/plans/index.js';
import { ratelimitErrors } from './modules/ratelimit/index.js';
import { routingErrors } from './modules/routing/index.js';
import { tenancyErrors } from './modules/tenancy/index.js';
import { usageErrors } from './modules/usage/index.js';
import { webhooksErrors } from './modules/webhooks/index.js';

/**
 * The one closed catalog of error codes and the one code → HTTP status table. A code is
 * declared in its module's errors.ts (the HTTP edge's in http/errors.ts), which adds it to
 * ErrorCodes, and joined here: the type below fails to compile while a declared code is
 * missing or an unknown one is added.
 */
export const ERROR_CATALOG: { readonly [C in ErrorCode]: ErrorSpec } = {
  ...commonErrors,
  ...httpErrors,
  ...apiKeysErrors,
  ...authErrors,
  ...billingErrors,
  ...creditsErrors,
  ...entitlementsErrors,
  ...gateErrors,
  ...paymentsErrors,
  ...plansErrors,
  ...ratelimitErrors,
  ...routingErrors,
  ...tenancyErrors,
  ...usageErrors,
  ...webhooksErrors,
};

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, value);
}
