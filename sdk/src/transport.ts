/**
 * The `fetch` every call of a client goes through: the credential, a timeout per attempt,
 * and retries.
 *
 * A call is sent again, up to `retries` times, when the server answered 429 (a rate limit
 * refuses a call before it runs) or 408 (the request had not all arrived when the server's
 * time for it ran out: it read none of it, below its routes, and did nothing), and, when
 * the call is idempotent, when it answered 503 or no answer came (refused or broken
 * connection, timeout). After those the first attempt
 * may have been done: a 503 DATABASE_UNAVAILABLE can follow a commit whose answer was lost
 * (the connection broke while the commit was on its way, server/src/db/errors.ts), so only
 * a call that may be repeated is sent again. Idempotent are GET, HEAD, PUT, DELETE and
 * OPTIONS, and a call marked `idempotent: true`: a POST the server answers again rather
 * than doing twice (the SDK's authorize, which always carries an idempotency key, the same
 * on every attempt; settle; release; previewCost, which changes nothing; a credit grant
 * with its idempotency key, a bank transfer confirmed with its reference). Any other POST
 * (creating a tenant or a key, a refresh with a single-use token) throws the 503 rather
 * than risk a second effect. The wait before a retry is the
 * server's `Retry-After` when it gave one, else a short exponential backoff with jitter; a
 * `Retry-After` longer than `maxRetryWaitMs` is not waited out: the answer is returned, and
 * the client throws it with `retryAfterMs` set.
 *
 * A redirect is never followed (fetch's default would send the request again, body and
 * credential included, to wherever `Location` points, another origin too): a 3xx is thrown
 * as a `TollgateError` naming the location, not retried, as the Python SDK does.
 *
 * `timeoutMs` bounds each attempt: until the whole answer is read, whatever its content
 * type or status, but for a successful usage export (a stream), until its headers.
 */
import { TollgateConnectionError, TollgateError, TollgateTimeout, retryAfterMs } from './errors.js';

export type Fetch = (request: Request) => Promise<Response>;
/** Waits `ms`, or rejects with the signal's reason once it aborts. Tests pass one that records the waits. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
/** The bearer credential, or a function giving the current one (called before every call, so it may refresh). */
export type Credential = string | (() => string | undefined | Promise<string | undefined>) | undefined;

export interface TransportOptions {
  credential: Credential;
  timeoutMs: number;
  retries: number;
  maxRetryWaitMs: number;
  fetch?: Fetch | undefined;
  sleep?: Sleep | undefined;
}

/** Set on a request (openapi-fetch copies unknown options onto the Request) to make it retryable after a lost answer. */
export interface RetryMark { idempotent?: boolean }

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** Answers to a request the server did not carry out: any call may be sent again after them. */
const NOT_CARRIED_OUT = new Set([408, 429]);
const BACKOFF_START_MS = 200;
const BACKOFF_CAP_MS = 5000;
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);
/** The usage export's content types: the only answers not read whole within the timeout. */
const STREAMED_TYPES = /^\s*(text\/csv|application\/x-ndjson)\s*(;|$)/i;

type Attempt = { response: Response; failure?: undefined } | { response?: undefined; failure: TollgateConnectionError };

export function createTransport(options: TransportOptions): Fetch {
  if (!Number.isInteger(options.retries) || options.retries < 0) throw new RangeError('retries must be a whole number, 0 or more');
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const sleep = options.sleep ?? abortableSleep;

  async function attempt(request: Request, caller: AbortSignal): Promise<Attempt> {
    // One controller for the attempt, aborted by its timer or by the caller; the request sent
    // with its signal is held until the attempt ends (keepUntilHere). undici's Request follows
    // the signal it is given through a weak reference: once nothing held the request, it could
    // be collected mid-call and the abort reach nothing (seen under load: a dripped body read
    // to its end, seconds after the timer fired).
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; abort.abort(); }, options.timeoutMs);
    const callerAborted = () => abort.abort(caller.reason);
    if (caller.aborted) callerAborted();
    else caller.addEventListener('abort', callerAborted, { once: true });
    const sent = new Request(request, { signal: abort.signal, redirect: 'manual' });
    try {
      const response = await buffered(await send(sent));
      // An abort while the body is read can end it early without an error (undici, now and
      // then): such an answer is cut short, not whole.
      if (abort.signal.aborted) throw new Error('aborted while the answer was read');
      return { response };
    } catch (error) {
      if (caller.aborted) throw caller.reason;
      const where = `${request.method} ${request.url}`;
      if (timedOut) return { failure: new TollgateTimeout(`no answer within ${options.timeoutMs} ms: ${where}`, { cause: error }) };
      return { failure: new TollgateConnectionError(`no answer (${reasonOf(error)}): ${where}`, { cause: error }) };
    } finally {
      clearTimeout(timer);
      caller.removeEventListener('abort', callerAborted);
      keepUntilHere(sent);
    }
  }

  function retryWait(outcome: Attempt, attempted: number, idempotent: boolean): number | null {
    if (attempted >= options.retries) return null;
    if (outcome.failure) return idempotent ? backoff(attempted) : null;
    const { status } = outcome.response;
    if (!NOT_CARRIED_OUT.has(status) && !(status === 503 && idempotent)) return null;
    const wait = retryAfterMs(outcome.response.headers.get('retry-after')) ?? backoff(attempted);
    return wait <= options.maxRetryWaitMs ? wait : null;
  }

  return async (request) => {
    const idempotent = IDEMPOTENT_METHODS.has(request.method) || (request as Request & RetryMark).idempotent === true;
    const caller = request.signal;
    const credential = typeof options.credential === 'function' ? await options.credential() : options.credential;
    const template = new Request(request, { headers: withCredential(request.headers, credential) });
    for (let attempted = 0; ; attempted++) {
      const outcome = await attempt(template.clone(), caller);
      if (outcome.response && isRedirect(outcome.response)) throw notFollowed(outcome.response);
      const wait = retryWait(outcome, attempted, idempotent);
      if (wait === null) {
        if (outcome.failure) throw outcome.failure;
        return outcome.response;
      }
      await sleep(wait, caller);
    }
  };
}

function withCredential(headers: Headers, credential: string | undefined): Headers {
  const sent = new Headers(headers);
  if (credential) sent.set('authorization', `Bearer ${credential}`);
  return sent;
}

/**
 * Every answer read whole inside the attempt, so the timeout covers its body: JSON or not
 * (a proxy's HTML 502 whose body stalls), an error's too. The one exception is a
 * successful export (CSV or NDJSON), passed on as the stream it is: its headers came
 * within the timeout, its rows may take as long as there are rows.
 */
async function buffered(response: Response): Promise<Response> {
  if (response.body === null || (response.ok && STREAMED_TYPES.test(response.headers.get('content-type') ?? ''))) return response;
  const body = await response.arrayBuffer();
  const init = { status: response.status, statusText: response.statusText, headers: response.headers };
  return new Response(NULL_BODY_STATUSES.has(response.status) ? null : body, init);
}

/** A 3xx as it came (Node), or the opaque redirect a browser gives for `redirect: 'manual'` (status 0, no headers). */
function isRedirect(response: Response): boolean {
  return response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400);
}

function notFollowed(response: Response): TollgateError {
  const location = response.headers.get('location') ?? '(a location the browser does not show)';
  return new TollgateError(`redirected to ${location}: not followed; the credential is sent to baseUrl alone (set it to where Tollgate answers)`, {
    status: response.status || null, requestId: response.headers.get('x-request-id'),
  });
}

function backoff(attempted: number): number {
  return Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * 2 ** attempted) * (0.5 + Math.random() / 2);
}

function reasonOf(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.message : String(error);
}

const abortableSleep: Sleep = (ms, signal) => new Promise((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason);
  const onAbort = () => { clearTimeout(timer); reject(signal!.reason); };
  const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
  signal?.addEventListener('abort', onAbort, { once: true });
});

/** Does nothing; a call holds what it is given alive until then (see attempt()). */
function keepUntilHere(_held: unknown): void {}
