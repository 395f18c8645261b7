import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Fields that may hold a secret (a password, a token, a key, a mail's body, a connection
 * URL with its password), wherever a log object has them up to three levels deep: pino
 * writes "[redacted]" instead. The code logs none of them on purpose; this is the net under
 * a mistake (an error object carrying a request, a mail, a config).
 */
export const SECRET_FIELDS = [
  'password', 'newPassword', 'passwordHash', 'token', 'accessToken', 'refreshToken', 'resetToken', 'idToken',
  'key', 'apiKey', 'secret', 'secretKey', 'keyHash', 'tokenHash', 'authorization', 'cookie', 'text', 'html',
  'smtpUrl', 'databaseUrl', 'redisUrl', 'connectionString',
  // A webhook endpoint's sealed whsec_ secret, and a signature made with it.
  'secretSealed', 'secret_sealed', 'signature',
  // Provider routes (modules/routing): the tenant's provider key and external ID, their
  // sealed form, and the temporary AWS credentials STS issues.
  'externalId', 'ExternalId', 'secretAccessKey', 'SecretAccessKey', 'sessionToken', 'SessionToken', 'credentials', 'Credentials',
] as const;

const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`, `*.*.*.${field}`]),
  // A driver's error carries the statement's parameters (what a row held).
  'err.params', 'err.parameters', 'err.cause.params', 'err.cause.parameters',
  'req.headers["tollgate-on-behalf-of"]',
];

/** The process's logger: pino JSON at `level`, secrets redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** A request logger's own state: its real child once made. */
interface LazyState { parent: Logger; bindings: Record<string, unknown>; options: { level?: string }; child: Logger | undefined }

const STATE = Symbol('lazy request logger');
type LazyReceiver = { [STATE]: LazyState };
const realOf = (state: LazyState): Logger => (state.child ??= state.parent.child(state.bindings, state.options));

/**
 * The level methods and `child` of every request logger, made once. Fastify reads a
 * request logger's methods on every request (its validateLogger), and a wrapper made at
 * each read was ~1.4 KB of each decision's allocations. Like pino's own methods they find
 * their logger through the receiver (`this`).
 */
const LAZY_METHODS = new Map<string | symbol, (this: LazyReceiver, ...args: unknown[]) => unknown>([
  ...LEVELS.map((level) => [level, function (this: LazyReceiver, ...args: unknown[]) {
    const state = this[STATE];
    if (state.child === undefined && !state.parent.isLevelEnabled(level)) return;
    (realOf(state)[level] as (...a: unknown[]) => void)(...args);
  }] as const),
  ['child', function (this: LazyReceiver, ...args: unknown[]) {
    return realOf(this[STATE]).child(...(args as Parameters<Logger['child']>));
  }],
]);

/**
 * A request's logger, made only when something is logged at an enabled level (Fastify's
 * childLoggerFactory). Pino builds a child's bindings through the redaction paths above —
 * about a hundred wildcards, for the request id alone — and that was ~3 % of the server's
 * CPU per request; most requests log nothing at the default level. With a level of its own
 * (a route's logLevel) the child is made at once.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>, options: { level?: string }): Logger {
  if (options.level !== undefined) return parent.child(bindings, options);
  const state: LazyState = { parent, bindings, options, child: undefined };
  return new Proxy(state, {
    get(target, prop) {
      if (prop === STATE) return target;
      const method = LAZY_METHODS.get(prop);
      if (method) return method;
      const c = realOf(target);
      const value: unknown = Reflect.get(c, prop, c);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(c) : value;
    },
    set: (target, prop, value) => Reflect.set(realOf(target), prop, value),
  }) as unknown as Logger;
}
