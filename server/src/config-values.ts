/**
 * Readers of one setting's text, for config.ts. A refusal is a ConfigError that names the
 * variable or key and never repeats its value: a URL may carry a password, and a value
 * pasted into the wrong variable may be a secret.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * A whole number: decimal digits only, from `min` to `max`. Number() alone read '' as 0
 * (PORT='' listened on a random port), '0x1F90' as 8080 and '1e3' as 1000. Empty is an
 * error, as it already was for every number but PORT (0 was below their minimum); only
 * unset means the default.
 */
export function envInteger(env: Env, name: string, range: { fallback: number; min: number; max: number }): number {
  const text = env[name];
  if (text === undefined) return range.fallback;
  const value = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= range.min && value <= range.max)) {
    throw new ConfigError(`${name}: must be a whole number from ${range.min} to ${range.max}, in decimal digits`);
  }
  return value;
}

/**
 * A switch: true or false (in any case), 1 or 0. Anything else is refused rather than read
 * as off (TOLLGATE_TRUST_PROXY=yes was quietly false). Unset or empty is undefined, the
 * caller's default: an empty switch always meant that.
 */
export function envBoolean(env: Env, name: string): boolean | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (text === '1' || text.toLowerCase() === 'true') return true;
  if (text === '0' || text.toLowerCase() === 'false') return false;
  throw new ConfigError(`${name}: must be true, false, 1 or 0`);
}

/** One of a closed list; unset, the fallback (empty is not unset here: it is no level, no host). */
export function envChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const text = env[name];
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) throw new ConfigError(`${name}: must be one of ${choices.join(', ')}`);
  return text as T;
}

const URL_SCHEMES = {
  smtp: ['smtp:', 'smtps:'],
  postgres: ['postgres:', 'postgresql:'],
  redis: ['redis:', 'rediss:'],
  http: ['http:', 'https:'],
} as const;

export type UrlKind = keyof typeof URL_SCHEMES;

/**
 * A URL variable: unset or empty is undefined (no such service), as it always was. Parsed
 * here rather than where it is used: a URL the parser refuses (a port of 99999) made the
 * mailer, postgres or ioredis throw a TypeError whose `input`, printed with its stack,
 * was the URL and its password.
 */
export function envUrl(env: Env, name: string, kind: UrlKind): string | undefined {
  const text = env[name];
  if (!text) return undefined;
  const problem = urlProblem(text, kind);
  if (problem) throw new ConfigError(`${name}: ${problem}`);
  return text;
}

/** What is wrong with a URL of the kind, without a word of the URL; undefined when nothing is. */
export function urlProblem(text: string, kind: UrlKind): string | undefined {
  const schemes: readonly string[] = URL_SCHEMES[kind];
  const expected = `must be a URL starting ${schemes.map((s) => `${s}//`).join(' or ')}`;
  // postgres.js also takes a list of hosts (h1:5432,h2:5433, tried in turn), which the URL
  // parser refuses: it parses the URL with the first in the list's place, so each is tried there.
  const hosts = kind === 'postgres' ? postgresHosts(text) : '';
  const variants = hosts.includes(',') ? hosts.split(',').map((host) => text.replace(hosts, host)) : [text];
  for (const variant of variants) {
    let url: URL;
    try {
      url = new URL(variant);
    } catch {
      // The parser's error is dropped: its `input` is the URL.
      return `${expected}; it does not parse (a port is 1 to 65535; reserved characters in a user or password are percent-encoded)`;
    }
    if (!schemes.includes(url.protocol)) return expected;
    // postgres.js reaches a socket directory given as ?host= (postgres:///db?host=/run/postgresql) with no host before the path.
    if (!url.hostname && !(kind === 'postgres' && url.searchParams.get('host'))) return `${expected}, with a host`;
    if (url.port === '0') return `${expected}, with a port from 1 to 65535`;
  }
  return undefined;
}

/** The hosts part of a PostgreSQL URL as postgres.js cuts it out: after the first '@', up to the path or query. */
function postgresHosts(text: string): string {
  const authority = text.slice(text.indexOf('://') + 3).split(/[?/]/)[0] ?? '';
  return authority.slice(authority.indexOf('@') + 1);
}
