/**
 * The signed-in session: the tokens of `POST /v1/token` kept in sessionStorage (gone when
 * the tab closes), refreshed with the single-use refresh token shortly before the access
 * token expires, and the one SDK client every page calls the server through.
 *
 * The server ends the whole session (revokes every token of it) when a refresh token is
 * presented twice, and a duplicated tab starts with a copy of this tab's sessionStorage:
 * the same refresh token in both. So tabs refresh one at a time, under a lock every tab of
 * the origin shares (navigator.locks), and a tab that refreshed hands the new pair to the
 * tabs still holding the one it replaced (BroadcastChannel); inside the lock a tab reads its
 * storage again and uses a pair handed over meanwhile. Only the server refusing the refresh
 * (401, 403 USER_DEACTIVATED) ends the session: no answer, a 5xx or a 429 fails the call
 * that needed the token, and the next call tries again.
 */
import { TollgateError, Tollgate, unwrap } from '@tollgate/sdk';
import type { Me } from './types';

const STORAGE_KEY = 'tollgate.console.session';
const REFRESH_MARGIN_MS = 30_000;
const REFRESH_LOCK = 'tollgate-refresh';
/**
 * How long a tab keeps the lock after handing a pair over: the other tabs have the message
 * before one of them can take the lock and refresh with the spent token (the message and the
 * lock reach a tab by separate ways, in no promised order).
 */
const HANDOVER_GRACE_MS = 100;

interface Stored { accessToken: string; refreshToken: string; expiresAt: number }
/** A refresh another tab made: `tokens` replace the pair whose refresh token was `replaces`. */
interface Handover { replaces: string; tokens: Stored }

/** The page's own origin: the console is served by the server it manages. */
const anonymous = new Tollgate({ baseUrl: '' });
const handovers = new BroadcastChannel('tollgate-session');
handovers.onmessage = (event: MessageEvent<Handover>) => {
  if (read()?.refreshToken === event.data.replaces) store(event.data.tokens);
};

function read(): Stored | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<Stored> | null;
    if (stored && typeof stored.accessToken === 'string' && typeof stored.refreshToken === 'string' && typeof stored.expiresAt === 'number') return stored as Stored;
  } catch {
    // an unreadable entry is no session: the sign-in page writes a good one
  }
  return null;
}

function store(stored: Stored): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(stored));
}

function granted(tokens: { accessToken: string; refreshToken: string; expiresIn: number }): Stored {
  return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: Date.now() + tokens.expiresIn * 1000 };
}

function due(stored: Stored): boolean {
  return Date.now() >= stored.expiresAt - REFRESH_MARGIN_MS;
}

/** Answers that end the session: 401 (the token or the refresh token is not accepted), 403 USER_DEACTIVATED. */
function endsSession(status: number | null, code: string | null | undefined): boolean {
  return status === 401 || (status === 403 && code === 'USER_DEACTIVATED');
}

/** One refresh at a time in this tab: the calls that find the token due wait for the same one. */
let refreshing: Promise<string | undefined> | null = null;

async function currentToken(): Promise<string | undefined> {
  const stored = read();
  if (!stored || !due(stored)) return stored?.accessToken;
  refreshing ??= refreshAcrossTabs().finally(() => { refreshing = null; });
  return refreshing;
}

/** Under the lock of every tab; in this tab alone where there is none (navigator.locks needs https, or localhost). */
async function refreshAcrossTabs(): Promise<string | undefined> {
  const locks: LockManager | undefined = navigator.locks;
  return locks ? await locks.request(REFRESH_LOCK, refresh) : refresh();
}

/** The stored pair, read again (another tab may have handed a newer one over), refreshed if still due and handed to the other tabs. */
async function refresh(): Promise<string | undefined> {
  const stored = read();
  if (!stored || !due(stored)) return stored?.accessToken;
  let tokens: Stored;
  try {
    tokens = granted(await unwrap(anonymous.api.POST('/v1/token', { body: { grantType: 'refresh_token', refreshToken: stored.refreshToken } })));
  } catch (error) {
    if (error instanceof TollgateError && endsSession(error.status, error.code)) signOut(error.code === 'USER_DEACTIVATED' ? error.code : 'the session expired');
    throw error;
  }
  store(tokens);
  handovers.postMessage({ replaces: stored.refreshToken, tokens } satisfies Handover);
  await new Promise((resolve) => setTimeout(resolve, HANDOVER_GRACE_MS));
  return tokens.accessToken;
}

const signedOutListeners = new Set<(reason: string | null) => void>();

/**
 * Calls `listener` whenever the session ends by itself — a refresh refused, a token the
 * server no longer accepts, the user deactivated — with why (null for a plain sign-out);
 * returns the unsubscribe.
 */
export function onSignedOut(listener: (reason: string | null) => void): () => void {
  signedOutListeners.add(listener);
  return () => { signedOutListeners.delete(listener); };
}

/** Every call with the session's token: an answer that ends the session (endsSession) signs out. */
const sessionFetch = async (request: Request): Promise<Response> => {
  const response = await fetch(request);
  if (!request.headers.has('authorization') || (response.status !== 401 && response.status !== 403)) return response;
  const code = await response.clone().json().then((body: { error?: { code?: string } }) => body.error?.code, () => undefined);
  if (endsSession(response.status, code)) signOut(code ?? 'UNAUTHENTICATED');
  return response;
};

/** The client every page uses: the session's current access token on every call. */
export const tg = new Tollgate({ baseUrl: '', token: currentToken, fetch: sessionFetch });

export function hasSession(): boolean {
  return read() !== null;
}

export async function signIn(email: string, password: string): Promise<void> {
  store(granted(await unwrap(anonymous.api.POST('/v1/token', { body: { grantType: 'password', email, password } }))));
}

/** Ends the session; `reason` says why when it ended by itself. */
export function signOut(reason: string | null = null): void {
  const had = sessionStorage.getItem(STORAGE_KEY) !== null;
  sessionStorage.removeItem(STORAGE_KEY);
  if (had) for (const listener of signedOutListeners) listener(reason);
}

export function loadMe(): Promise<Me> {
  return unwrap(tg.api.GET('/v1/me'));
}

/** An idempotency key for one write a form makes (a credit adjustment): the same on the SDK's retries, and on the operator's resubmission of it. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `console-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}
