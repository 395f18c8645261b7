/** The Tollgate client: the decision, closing its reservation, run(), the reads a backend needs, and every other route typed. */
import createClient, { type Client } from 'openapi-fetch';
import { errorFromAnswer } from './errors.js';
import type { Decision } from './decision.js';
import { runWith, type RunOptions, type RunOutcome, type RunWork } from './run.js';
import type { AuthorizeBody, CostPreview, CreditBalance, Ledger, paths, Quantity, Reservation, Resolution, Usage, UsageEvents } from './schema.js';
import { createTransport, type Credential, type Fetch, type RetryMark, type Sleep } from './transport.js';

export interface TollgateOptions {
  /** The server, e.g. `http://127.0.0.1:8787`; `''` for the page's own origin in a browser. */
  baseUrl: string;
  /** A tenant API key (`tg_…`) or a service key (`tgs_…`). */
  apiKey?: string | undefined;
  /** A Tollgate access token or an identity provider's JWT, or a function giving the current one (called before every call). */
  token?: Credential;
  /** Bounds each attempt of a call, in milliseconds (default 10 000). */
  timeoutMs?: number | undefined;
  /** How many times a call is sent again after a 429, or (idempotent calls) a 503 or no answer (default 2). */
  retries?: number | undefined;
  /** A `Retry-After` longer than this (milliseconds, default 10 000) is not waited out: the error is thrown at once. */
  maxRetryWaitMs?: number | undefined;
  /** The fetch to send with (default `globalThis.fetch`). */
  fetch?: Fetch | undefined;
  /** How to wait before a retry (default a timer; tests pass one that records the waits). */
  sleep?: Sleep | undefined;
}

/** The member of a tenant a service key (`tgs_…`) acts for. */
export interface OnBehalfOf { tenantId: string; userId: string }

/** Whose tenant a call acts in, and how to give it up. */
export interface CallOptions {
  /** User credentials: the tenant to act in (else the user's personal tenant). */
  tenantId?: string | undefined;
  /** Service keys: the member to act for; Tollgate checks the membership and role itself. */
  onBehalfOf?: OnBehalfOf | undefined;
  /** Aborts the call (and its retries); the call then rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

export interface AuthorizeOptions extends CallOptions {
  module?: string | undefined;
  model?: string | undefined;
  quantity?: Quantity | undefined;
  /**
   * Without one the SDK makes one per call (`sdk-…`, the same on every retry, so a lost
   * answer is answered again instead of admitting twice). Pass your own (a job id) to make
   * re-running the whole job idempotent too: `run()` then resumes the job's run while its
   * reservation is held, and throws `AlreadyResolved` once that run has ended (run.ts).
   */
  idempotencyKey?: string | undefined;
}

export interface SettleOptions extends CallOptions {
  quantity?: Quantity | undefined;
  credits?: number | undefined;
}

export interface PageOptions extends CallOptions {
  cursor?: string | undefined;
  limit?: number | undefined;
}

export interface RequestOptions extends CallOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  /** Lets a POST or PATCH be sent again after a lost answer or a 503; only for calls the server treats as idempotent. */
  idempotent?: boolean | undefined;
}

/** An openapi-fetch answer: `{ data, response }` on success, `{ error, response }` otherwise. */
type Answer = { data?: unknown; error?: unknown; response: Response };
/** The data type of an answer's success branch. */
type SuccessData<A> = A extends { data: infer Data; error?: never } ? Data : never;

/** The data of a typed call (`tg.api.GET(…)`), or the call's `TollgateError` thrown (with code, status, message, request id). */
export async function unwrap<A extends Answer>(call: Promise<A>): Promise<SuccessData<A>> {
  return (await answered(call)).data;
}

async function answered<A extends Answer>(call: Promise<A>): Promise<{ data: SuccessData<A>; response: Response }> {
  const answer = await call;
  if (!answer.response.ok) throw errorFromAnswer(answer.response, answer.error);
  return { data: answer.data as SuccessData<A>, response: answer.response };
}

export class Tollgate {
  /**
   * Every route of the API, typed from the server's OpenAPI document (openapi-fetch):
   * `tg.api.GET('/v1/admin/tenants', { params: { query: { status: 'suspended' } } })`
   * answers `{ data, error, response }`; `unwrap()` turns it into the data or a thrown
   * `TollgateError`. The same credential, timeout and retries as the calls below.
   */
  readonly api: Client<paths>;

  constructor(options: TollgateOptions) {
    if (options.apiKey !== undefined && options.token !== undefined) throw new TypeError('pass apiKey or token, not both');
    const fetch = createTransport({
      credential: options.apiKey ?? options.token,
      timeoutMs: options.timeoutMs ?? 10_000,
      retries: options.retries ?? 2,
      maxRetryWaitMs: options.maxRetryWaitMs ?? 10_000,
      fetch: options.fetch,
      sleep: options.sleep,
    });
    this.api = createClient<paths>({ baseUrl: options.baseUrl, fetch });
  }

  // -- the decision ---------------------------------------------------------------

  /** May this caller run `operation` now, and what does it cost? A refusal is a Decision with `allowed` false, not an error. */
  async authorize(operation: string, options: AuthorizeOptions = {}): Promise<Decision> {
    const idempotencyKey = options.idempotencyKey ?? newIdempotencyKey();
    const body: AuthorizeBody = { operation, idempotencyKey };
    if (options.module !== undefined) body.module = options.module;
    if (options.model !== undefined) body.model = options.model;
    if (options.quantity !== undefined) body.quantity = options.quantity;
    const { data, response } = await answered(this.api.POST('/v1/authorize', { body, ...sent(options), idempotent: true }));
    return { ...data, idempotencyKey, requestId: response.headers.get('x-request-id') };
  }

  /** Charges the actual cost: `credits`, else the price of `quantity`, else the whole reservation; the rest is released. Idempotent. */
  settle(reservationId: string, options: SettleOptions = {}): Promise<Resolution> {
    const body: { quantity?: Quantity; credits?: number } = {};
    if (options.quantity !== undefined) body.quantity = options.quantity;
    if (options.credits !== undefined) body.credits = options.credits;
    return unwrap(this.api.POST('/v1/reservations/{id}/settle', { params: { path: { id: reservationId } }, body, ...sent(options), idempotent: true }));
  }

  /** Gives the whole reservation back, nothing charged. Idempotent. */
  release(reservationId: string, options: CallOptions = {}): Promise<Resolution> {
    return unwrap(this.api.POST('/v1/reservations/{id}/release', { params: { path: { id: reservationId } }, ...sent(options), idempotent: true }));
  }

  /**
   * One reservation as a settle would find it now: `held` (a settle can still charge it),
   * or `settled` (with what was `charged`), `released` or `expired`. Whoever may settle it
   * may read it.
   */
  reservation(reservationId: string, options: CallOptions = {}): Promise<Reservation> {
    return unwrap(this.api.GET('/v1/reservations/{id}', { params: { path: { id: reservationId } }, ...sent(options) }));
  }

  /**
   * Reserves, runs `work`, and closes the reservation: settles what `work` reported
   * (`run.report(…)`), or the whole reservation when it reported nothing; releases it when
   * `work` throws, and rethrows. A refusal throws `Denied` before `work` runs; a replayed
   * decision (the same `idempotencyKey`) whose run already ended throws `AlreadyResolved`
   * before `work` runs. See run.ts.
   */
  run<T>(operation: string, work: RunWork<T>): Promise<RunOutcome<T>>;
  run<T>(operation: string, options: RunOptions, work: RunWork<T>): Promise<RunOutcome<T>>;
  run<T>(operation: string, optionsOrWork: RunOptions | RunWork<T>, maybeWork?: RunWork<T>): Promise<RunOutcome<T>> {
    const [options, work] = typeof optionsOrWork === 'function' ? [{}, optionsOrWork] : [optionsOrWork, maybeWork];
    if (typeof work !== 'function') throw new TypeError('run() needs the work to run');
    return runWith(this, operation, options, work);
  }

  // -- reads ----------------------------------------------------------------------

  /** What `operation` would cost for `quantity` (and `model`); holds nothing. */
  previewCost(operation: string, options: { quantity?: Quantity; model?: string } & CallOptions = {}): Promise<CostPreview> {
    const body: { operation: string; quantity?: Quantity; model?: string } = { operation };
    if (options.quantity !== undefined) body.quantity = options.quantity;
    if (options.model !== undefined) body.model = options.model;
    return unwrap(this.api.POST('/v1/costs/preview', { body, ...sent(options), idempotent: true }));
  }

  /** Every meter of the tenant in the current period (an API key needs scope `read`). */
  usage(tenantId: string, options: CallOptions = {}): Promise<Usage> {
    return unwrap(this.api.GET('/v1/tenants/{tenantId}/usage', { params: { path: { tenantId } }, ...sent(options) }));
  }

  /** The usage log, newest first; role bypasses have `bypass` true. */
  usageEvents(tenantId: string, options: PageOptions = {}): Promise<UsageEvents> {
    const query = { cursor: options.cursor, limit: options.limit };
    return unwrap(this.api.GET('/v1/tenants/{tenantId}/usage/events', { params: { path: { tenantId }, query }, ...sent(options) }));
  }

  /** The tenant's credit balance, what reservations hold, and what is available. */
  credits(tenantId: string, options: CallOptions = {}): Promise<CreditBalance> {
    return unwrap(this.api.GET('/v1/tenants/{tenantId}/credits', { params: { path: { tenantId } }, ...sent(options) }));
  }

  /** The append-only credit ledger, newest first. */
  ledger(tenantId: string, options: PageOptions = {}): Promise<Ledger> {
    const query = { cursor: options.cursor, limit: options.limit };
    return unwrap(this.api.GET('/v1/tenants/{tenantId}/credits/ledger', { params: { path: { tenantId }, query }, ...sent(options) }));
  }

  // -- any route, typed or not ------------------------------------------------------

  /**
   * Calls any route by method and path (`/v1/me`), typed or not (a route newer than this
   * SDK's types), with this client's credential, errors and retries; resolves with the JSON.
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const init = { body: options.body, params: { query: options.query }, ...sent(options), idempotent: options.idempotent };
    const call = this.api.request(method.toLowerCase() as 'get', path as '/v1/me', init as never) as Promise<Answer>;
    return (await unwrap(call)) as T;
  }
}

/** The request options of a call: the acting headers and the caller's signal. */
function sent(options: CallOptions): { headers: Record<string, string>; signal?: AbortSignal } & RetryMark {
  const headers: Record<string, string> = {};
  if (options.tenantId) headers['tollgate-tenant'] = options.tenantId;
  if (options.onBehalfOf) headers['tollgate-on-behalf-of'] = `${options.onBehalfOf.tenantId}:${options.onBehalfOf.userId}`;
  return options.signal ? { headers, signal: options.signal } : { headers };
}

/** `sdk-` and 128 random bits in hex (crypto.getRandomValues: also outside secure browser contexts, unlike randomUUID). */
function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `sdk-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}
