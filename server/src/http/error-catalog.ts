import type { ErrorSpec } from '../lib/errors.js';
import { httpErrors } from './errors.js';
import { tenancyErrors } from '../modules/tenancy/errors.js';
import { authErrors } from '../modules/auth/errors.js';
import { plansErrors } from '../modules/plans/errors.js';
import { ratelimitErrors } from '../modules/ratelimit/errors.js';
import { apiKeysErrors } from '../modules/apikeys/errors.js';
import { entitlementsErrors } from '../modules/entitlements/errors.js';
import { creditsErrors } from '../modules/credits/errors.js';
import { gateErrors } from '../modules/gate/errors.js';

/**
 * The one closed catalog of error codes and the one code → HTTP status table.
 * A code used anywhere must be declared in a module's errors.ts and joined here.
 */
export const ERROR_CATALOG = {
  ...httpErrors,
  ...tenancyErrors,
  ...authErrors,
  ...plansErrors,
  ...ratelimitErrors,
  ...apiKeysErrors,
  ...entitlementsErrors,
  ...creditsErrors,
  ...gateErrors,
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERROR_CATALOG[code];
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, value);
}
