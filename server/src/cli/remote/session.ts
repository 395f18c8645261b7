/**
 * Which server the operator commands talk to, and with what credential.
 *
 * `tollgate login` signs in with an email and password (`POST /v1/token`) and stores the
 * server's URL and the token pair in `<config dir>/tollgate/credentials.json`, readable by
 * the user alone (mode 0600, in a 0700 directory). The config dir is `$XDG_CONFIG_HOME`,
 * else `~/.config` (`%APPDATA%` on Windows). An access token lives minutes: a stored one
 * about to expire is refreshed with the stored refresh token first (single-use: the new
 * pair is stored again). The server ends the whole session when a refresh token is used
 * twice, so commands run in parallel (`xargs -P`) refresh one at a time, under a lock
 * beside the file, and one that finds a pair another stored meanwhile uses it instead.
 *
 * The environment wins: `TOLLGATE_URL` names the server, `TOLLGATE_TOKEN` is the
 * credential (sent as it is, never stored or refreshed). A stored token is only ever sent
 * to the URL it was issued by.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tollgate, unwrap } from '@tollgate/sdk';
import { withFileLock } from './file-lock.js';
import type { Io } from './io.js';
import { UsageError, NotSignedIn } from './output.js';

export const DEFAULT_URL = 'http://127.0.0.1:8787';
/** Refresh a stored access token this long before it expires, so a call never carries one that lapses on the way. */
const REFRESH_MARGIN_MS = 60_000;

interface Stored { url: string; email: string; accessToken: string; refreshToken: string; expiresAt: number }

export function credentialsFile(io: Io): string {
  const base = io.platform === 'win32'
    ? io.env.APPDATA || join(io.homeDir, 'AppData', 'Roaming')
    : io.env.XDG_CONFIG_HOME || join(io.homeDir, '.config');
  return join(base, 'tollgate', 'credentials.json');
}

/** The server's URL without a trailing slash: `--url`, else TOLLGATE_URL, else the stored one, else the local default. */
export function serverUrl(io: Io, flag: string | undefined): string {
  const url = flag || io.env.TOLLGATE_URL || read(io)?.url || DEFAULT_URL;
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`not an http(s) URL: ${url}`);
  return url.replace(/\/+$/, '');
}

/** A client of the server at `url`, with TOLLGATE_TOKEN or the stored token for that URL (refreshed when due). */
export function signedInClient(io: Io, url: string): Tollgate {
  const fromEnv = io.env.TOLLGATE_TOKEN;
  if (fromEnv) return new Tollgate({ baseUrl: url, token: fromEnv });
  let current = storedFor(io, url);
  return new Tollgate({
    baseUrl: url,
    token: async () => {
      if (due(current)) current = await refreshed(io, url);
      return current.accessToken;
    },
  });
}

/**
 * The stored pair, refreshed if due, under the file's lock: read again inside it, as another
 * command may have refreshed it meanwhile, or replaced it (login) or removed it (logout),
 * which take the lock too: what is written is always the successor of what is stored.
 */
function refreshed(io: Io, url: string): Promise<Stored> {
  return underLock(io, async () => {
    const latest = storedFor(io, url);
    if (!due(latest)) return latest;
    const next = { ...latest, ...await grant(url, { grantType: 'refresh_token', refreshToken: latest.refreshToken }) };
    write(io, next);
    return next;
  });
}

/** `work` under the lock beside the stored file (its directory made first); a long wait for it is said on stderr, so the command does not hang in silence. */
function underLock<T>(io: Io, work: () => Promise<T>): Promise<T> {
  const file = credentialsFile(io);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return withFileLock(file, work, (pid) => {
    io.stderr.write(`tollgate: waiting for another tollgate command${pid ? ` (pid ${pid})` : ''} using the stored session\n`);
  });
}

function storedFor(io: Io, url: string): Stored {
  const stored = read(io);
  if (!stored || stored.url !== url) throw new NotSignedIn(`not signed in to ${url}: run \`tollgate login --url ${url}\`, or set TOLLGATE_TOKEN`);
  return stored;
}

function due(stored: Stored): boolean {
  return Date.now() >= stored.expiresAt - REFRESH_MARGIN_MS;
}

/** Signs in with a password and stores the session; answers who signed in. */
export async function login(io: Io, url: string, email: string, password: string): Promise<{ email: string; isOperator: boolean; file: string }> {
  const tokens = await grant(url, { grantType: 'password', email, password });
  const me = await unwrap(new Tollgate({ baseUrl: url, token: tokens.accessToken }).api.GET('/v1/me'));
  // Under the lock, so a refresh in flight writes its pair before this session, not over it.
  await underLock(io, async () => write(io, { url, email: me.user.email, ...tokens }));
  return { email: me.user.email, isOperator: me.user.isOperator, file: credentialsFile(io) };
}

/** Forgets the stored session, under the lock so a refresh in flight cannot write it back; answers whether there was one. */
export function logout(io: Io): Promise<boolean> {
  const file = credentialsFile(io);
  return underLock(io, async () => {
    if (!existsSync(file)) return false;
    rmSync(file);
    return true;
  });
}

type Grant = { grantType: 'password'; email: string; password: string } | { grantType: 'refresh_token'; refreshToken: string };

async function grant(url: string, body: Grant): Promise<Pick<Stored, 'accessToken' | 'refreshToken' | 'expiresAt'>> {
  const tokens = await unwrap(new Tollgate({ baseUrl: url }).api.POST('/v1/token', { body }));
  return { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: Date.now() + tokens.expiresIn * 1000 };
}

function read(io: Io): Stored | undefined {
  const file = credentialsFile(io);
  if (!existsSync(file)) return undefined;
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<Stored>;
    if (typeof stored.url === 'string' && typeof stored.accessToken === 'string' && typeof stored.refreshToken === 'string' && typeof stored.expiresAt === 'number') {
      return { email: '', ...stored } as Stored;
    }
  } catch {
    // An unreadable file is no session; `tollgate login` writes a good one over it.
  }
  return undefined;
}

/** Written (under the lock) whole to a sibling file created 0600 and renamed over the old one, so no reader ever sees half a file or a wider mode. */
function write(io: Io, stored: Stored): void {
  const file = credentialsFile(io);
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  chmodSync(partial, 0o600);
  renameSync(partial, file);
}
