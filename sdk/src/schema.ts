/** Names for the generated types of the routes the SDK wraps (src/generated/openapi.ts is the whole API). */
import type { components, paths } from './generated/openapi.js';

export type { components, paths };

type JsonBody<Operation> = Operation extends { requestBody?: { content: { 'application/json': infer Body } } } ? Body : never;
type JsonAnswer<Operation> = Operation extends { responses: { 200: { content: { 'application/json': infer Answer } } } } ? Answer : never;

/** The body of `POST /v1/authorize`. */
export type AuthorizeBody = JsonBody<paths['/v1/authorize']['post']>;
/** The answer of `POST /v1/authorize`, as the server sends it. */
export type AuthorizeAnswer = JsonAnswer<paths['/v1/authorize']['post']>;
/** A reservation after settle or release, and the tenant's balance after it. */
export type Resolution = JsonAnswer<paths['/v1/reservations/{id}/settle']['post']>;
/** One reservation as a settle would find it now: `status` held, settled, released or expired, and what was `charged`. */
export type Reservation = JsonAnswer<paths['/v1/reservations/{id}']['get']>;
/** What an operation would cost. */
export type CostPreview = JsonAnswer<paths['/v1/costs/preview']['post']>;
/** A tenant's meters in the current period, and its concurrent runs. */
export type Usage = JsonAnswer<paths['/v1/tenants/{tenantId}/usage']['get']>;
/** One page of a tenant's usage log, newest first. */
export type UsageEvents = JsonAnswer<paths['/v1/tenants/{tenantId}/usage/events']['get']>;
/** A tenant's credit balance: `{balance, reserved, available}`. */
export type CreditBalance = JsonAnswer<paths['/v1/tenants/{tenantId}/credits']['get']>;
/** One page of a tenant's credit ledger, newest first. */
export type Ledger = JsonAnswer<paths['/v1/tenants/{tenantId}/credits/ledger']['get']>;
/** `{ meter: units }`, e.g. `{ words: 1200 }`. */
export type Quantity = NonNullable<AuthorizeBody['quantity']>;

/** The error body of every 4xx and 5xx: `{ error: { code, message, requestId } }`. */
export type ErrorBody = components['schemas']['ErrorBody'];
/** A code of the server's one error catalog (docs/errors.md). */
export type ErrorCode = ErrorBody['error']['code'];
