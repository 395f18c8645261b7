/**
 * The signed-in session: the tokens of `POST /v1/token` kept in sessionStorage (gone when
 * the tab closes), refreshed with the single-use refresh token shortly before the access
 * token expires, and the one SDK client every page calls the server through.
 */
import { Tollgate, unwrap } from '@tollgate/sdk';
import type { Me } from './types';

const STORAGE_KEY = 'tollgate.console.session';
const REFRESH_MARGIN_MS = 30_000;

interface Stored { accessToken: string; refreshToken: string; expiresAt: number }

/** The page's own origin: the console is served by the server it manages. */
const anonymous = new Tollgate({ baseUrl: '' });

function read(): Stored | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Partial<Stored> | null;
    if (stored && typeof stored.accessToken === 'string' && typeof stored.refreshToken === 'string' && typeof stored.expiresAt === 'number') return stored as Stored;
  } catch {
    // an unreadable entry is no session: the sign-in page writes a good one
  }
  return null;
}

function write(tokens: { accessToken: string; refreshToken: string; expiresIn: number }): void {
  const stored: Stored = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: Date.now() + tokens.expiresIn * 1000 };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(stored));
}

/** One refresh at a time: the refresh token is single-use, so two pages refreshing at once would sign each other out. */
let refreshing: Promise<string | undefined> | null = null;

async function currentToken(): Promise<string | undefined> {
  const stored = read();
  if (!stored) return undefined;
  if (Date.now() < stored.expiresAt - REFRESH_MARGIN_MS) return stored.accessToken;
  refreshing ??= (async () => {
    try {
      write(await unwrap(anonymous.api.POST('/v1/token', { body: { grantType: 'refresh_token', refreshToken: stored.refreshToken } })));
      return read()?.accessToken;
    } catch {
      signOut('the session expired');
      return undefined;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
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

/** Answers to a call with the session's token that end the session: 401 (the token is not accepted), 403 USER_DEACTIVATED. */
const sessionFetch = async (request: Request): Promise<Response> => {
  const response = await fetch(request);
  if (!request.headers.has('authorization') || (response.status !== 401 && response.status !== 403)) return response;
  const code = await response.clone().json().then((body: { error?: { code?: string } }) => body.error?.code, () => undefined);
  if (response.status === 401 || code === 'USER_DEACTIVATED') signOut(code ?? 'UNAUTHENTICATED');
  return response;
};

/** The client every page uses: the session's current access token on every call. */
export const tg = new Tollgate({ baseUrl: '', token: currentToken, fetch: sessionFetch });

export function hasSession(): boolean {
  return read() !== null;
}

export async function signIn(email: string, password: string): Promise<void> {
  write(await unwrap(anonymous.api.POST('/v1/token', { body: { grantType: 'password', email, password } })));
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

/** An idempotency key for one submitted form (a credit adjustment): the same on the SDK's retries, a new one per submission. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `console-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}
