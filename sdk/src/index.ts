/**
 * @tollgate/sdk — the TypeScript client of Tollgate (docs/typescript-sdk.md). Runs in Node
 * 20 and in browsers: fetch, AbortSignal and Web Crypto only.
 */
export { Tollgate, unwrap } from './client.js';
export type { AuthorizeOptions, CallOptions, OnBehalfOf, PageOptions, RequestOptions, SettleOptions, TollgateOptions } from './client.js';
export type { Run, RunOptions, RunOutcome, RunReport, RunWork } from './run.js';
export { DenialCode } from './decision.js';
export type { Decision, DecisionCode } from './decision.js';
export {
  TollgateError, BadRequest, ExpectationFailed, HeadersTooLarge, Unauthenticated, PaymentRequired, Forbidden, NotFound, Conflict,
  RequestTimeout, RateLimited, ServiceUnavailable, ServerError, TollgateConnectionError, TollgateTimeout, Denied, AlreadyResolved,
} from './errors.js';
export type { TollgateErrorDetails } from './errors.js';
export type { Credential, Fetch, Sleep } from './transport.js';
export type {
  AuthorizeAnswer, AuthorizeBody, CostPreview, CreditBalance, ErrorBody, ErrorCode, Ledger, Quantity, Reservation, Resolution, Usage, UsageEvents,
  components, paths,
} from './schema.js';
