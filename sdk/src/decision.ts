/** The decision: what `POST /v1/authorize` answers, and its codes. */
import type { AuthorizeAnswer } from './schema.js';

/**
 * The decision's `code`: `OK`, or why the call was refused (HTTP 200, `allowed: false`,
 * nothing consumed). A const object and a union of the same name:
 * `decision.code === DenialCode.LIMIT_EXCEEDED`.
 */
export const DenialCode = {
  OK: 'OK',
  TENANT_SUSPENDED: 'TENANT_SUSPENDED',
  TENANT_CLOSED: 'TENANT_CLOSED',
  PAYMENT_REQUIRED: 'PAYMENT_REQUIRED',
  MODULE_DISABLED: 'MODULE_DISABLED',
  NOT_IN_PLAN: 'NOT_IN_PLAN',

  RATE_LIMITED: 'RATE_LIMITED',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  INSUFFICIENT_CREDITS: 'INSUFFICIENT_CREDITS',
  /** In API.md's list; this server answers a bad credential with a 401 instead (thrown as `Unauthenticated`). */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
} as const;
export type DenialCode = (typeof DenialCode)[keyof typeof DenialCode];

/**
 * A decision's code as typed: the codes above, or one a newer server sends that this SDK
 * does not list yet (it arrives as its string; no call fails because the server learnt a
 * new reason).
 */
export type DecisionCode = DenialCode | (string & {});

// Every code the server's document lists is one of DenialCode: a new one fails the typecheck here.
type Unlisted = Exclude<AuthorizeAnswer['code'], DenialCode>;
const everyServerCodeIsListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyServerCodeIsListed;

/**
 * The answer of `POST /v1/authorize` as the server sent it (typed from the OpenAPI
 * document: `allowed`, `code`, `decisionId`, `tenant`, `principal`, `limits`, `credits`,
 * `reservation`, `bypass`, `route`, and on a refusal `refusedBy`, `message`,
 * `retryAfterMs`), plus what the SDK knows of the call: the idempotency key it sent and
 * the request id.
 */
export type Decision = Omit<AuthorizeAnswer, 'code'> & {
  code: DecisionCode;
  /** The idempotency key the call carried: the caller's, or the one the SDK made (`sdk-…`). */
  idempotencyKey: string;
  /** The server's `x-request-id`. */
  requestId: string | null;
};
