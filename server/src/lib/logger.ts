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
