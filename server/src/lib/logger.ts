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

/** pino's levels (pino.levels.values, and silent): LOG_LEVEL is one of them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The process's logger: pino JSON at `level`, secrets redacted, a failed statement without its parameters. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { err: serializeError },
    hooks: {
      // A line logged without a message takes its error's: a failed statement's carries its values.
      logMethod(args: unknown[], method: (...a: unknown[]) => void) {
        const [first, message] = args;
        const err = first instanceof Error ? first : (first as { err?: unknown } | null)?.err;
        if (message === undefined && isFailedQuery(err)) return method.apply(this, [first, failedQueryMessage(err)]);
        return method.apply(this, args);
      },
    },
  }, destination);
}

type ErrorLike = Error & { cause?: unknown };
/** Drizzle's DrizzleQueryError (drizzle-orm/errors), by its shape: a copy of drizzle bundled elsewhere has another class. */
type FailedQuery = ErrorLike & { query: string; params: unknown };

const isErrorLike = (value: unknown): value is ErrorLike => typeof (value as { message?: unknown } | null)?.message === 'string';
const isFailedQuery = (value: unknown): value is FailedQuery =>
  isErrorLike(value) && typeof (value as { query?: unknown }).query === 'string' && 'params' in value;

/**
 * An error as logged: pino's own serializer, but a failed statement never with its values.
 * A DrizzleQueryError's message and stack read "Failed query: <sql>\nparams: <values>" — a
 * row's values, a sealed secret among them — and pino copies both, and every cause's message
 * and stack, into the line, where the redaction paths (fields, not text) cannot reach. Such
 * an error is logged as its query and its stack's frames, its cause (the driver's refusal)
 * as the database's code, message and the names of what it refused, never its detail (which
 * quotes a key's values); an error wrapping one (the 503 of an outage) keeps its own message
 * and stack and shows that cause the same way.
 */
function serializeError(err: unknown): unknown {
  if (!isErrorLike(err)) return err;
  if (isFailedQuery(err)) return failedQuery(err);
  if (!carriesFailedQuery(err.cause)) return pino.stdSerializers.err(err);
  const own = Object.create(Object.getPrototypeOf(err) as object, Object.getOwnPropertyDescriptors(err)) as ErrorLike;
  delete own.cause;
  return Object.assign(pino.stdSerializers.err(own), { cause: serializeError(err.cause) });
}

function carriesFailedQuery(error: unknown, depth = 0): boolean {
  return isErrorLike(error) && depth < 10 && (isFailedQuery(error) || carriesFailedQuery(error.cause, depth + 1));
}

const failedQueryMessage = (err: FailedQuery) => `Failed query: ${err.query}`;

function failedQuery(err: FailedQuery): Record<string, unknown> {
  const header = `${err.name}: ${err.message}`;
  const message = failedQueryMessage(err);
  // The frames only after the message's own lines: a stack that does not begin with them is not shown at all.
  const stack = err.stack?.startsWith(header) ? `${err.name}: ${message}${err.stack.slice(header.length)}` : undefined;
  return { type: err.constructor.name, message, stack, query: err.query, cause: databaseRefusal(err.cause) };
}

/** What of a driver's error is logged, in one spelling for both drivers (postgres.js names its fields table_name, …; PGlite table, …). */
const REFUSAL_FIELDS = {
  code: ['code'], severity: ['severity'], schema: ['schema', 'schema_name'], table: ['table', 'table_name'],
  column: ['column', 'column_name'], constraint: ['constraint', 'constraint_name'], dataType: ['dataType', 'data_type_name'],
} as const;

function databaseRefusal(cause: unknown): Record<string, unknown> | undefined {
  if (!isErrorLike(cause)) return undefined;
  const fields = cause as unknown as Record<string, unknown>;
  const view: Record<string, unknown> = { type: cause.constructor.name, message: cause.message };
  for (const [name, spellings] of Object.entries(REFUSAL_FIELDS)) {
    const value = spellings.map((spelling) => fields[spelling]).find((v) => typeof v === 'string' || typeof v === 'number');
    if (value !== undefined) view[name] = value;
  }
  return view;
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
