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

const LEVEL_METHODS = new Set<string | symbol>(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

/**
 * A request's logger, made only when something is logged at an enabled level (Fastify's
 * childLoggerFactory). Pino builds a child's bindings through the redaction paths above —
 * about a hundred wildcards, for the request id alone — and that was ~3 % of the server's
 * CPU per request; most requests log nothing at the default level. With a level of its own
 * (a route's logLevel) the child is made at once.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>, options: { level?: string }): Logger {
  if (options.level !== undefined) return parent.child(bindings, options);
  let child: Logger | undefined;
  const real = (): Logger => (child ??= parent.child(bindings, options));
  return new Proxy({} as Logger, {
    get(_target, prop) {
      if (child === undefined && LEVEL_METHODS.has(prop)) {
        return (...args: unknown[]) => {
          if (!parent.isLevelEnabled(prop as string)) return;
          (real()[prop as 'info'] as (...a: unknown[]) => void)(...args);
        };
      }
      // Fastify checks that a request's logger has its methods, `child` among them, on every request.
      if (child === undefined && prop === 'child') return (...args: Parameters<Logger['child']>) => real().child(...args);
      const c = real();
      const value: unknown = Reflect.get(c, prop, c);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(c) : value;
    },
    set: (_target, prop, value) => Reflect.set(real(), prop, value),
  });
}
