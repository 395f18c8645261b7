import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { databaseFailure } from '../db/errors.js';
import { AppError, type ErrorCode } from '../lib/errors.js';
import { ERROR_CATALOG } from '../error-catalog.js';
import { malformedText, textFault } from './text-guard.js';

/** Fastify's own error codes for malformed requests, mapped onto the catalog. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  FST_ERR_BAD_URL: 'MALFORMED_TEXT',
  FST_ERR_MAX_PARAM_LENGTH: 'BAD_REQUEST',
  FST_ERR_ASYNC_CONSTRAINT: 'BAD_REQUEST',
};

/** The one error body (API.md), and its status. */
export function errorAnswer(code: ErrorCode, requestId: string, message?: string): { status: number; body: { error: { code: ErrorCode; message: string; requestId: string } } } {
  const spec = ERROR_CATALOG[code];
  return { status: spec.status, body: { error: { code, message: message ?? spec.message, requestId } } };
}

export function sendError(reply: FastifyReply, request: FastifyRequest, code: ErrorCode, message?: string, headers?: Record<string, string>): FastifyReply {
  const { status, body } = errorAnswer(code, request.id, message);
  if (headers) reply.headers(headers);
  return reply.code(status).send(body);
}

/** Errors Fastify raises before routing (bad URL, over-long parameter) get the same error body. */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, request, (error.code && FASTIFY_CODES[error.code]) || 'BAD_REQUEST');
}

/** Nothing but JSON's whitespace (RFC 8259: space, tab, line feed, carriage return). */
const BLANK = /^[ \t\n\r]*$/;

/**
 * UTF-8 or nothing: a byte sequence that is not UTF-8 (a Latin-1 é, an encoded surrogate,
 * an overlong form) throws instead of becoming U+FFFD, which a lossy decode stored in its
 * place. A byte order mark is left to the JSON parser, which skips it as before.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The charset labels of UTF-8 (WHATWG Encoding: utf8 is one). */
const UTF8_LABELS = new Set(['utf-8', 'utf8']);

/**
 * Why a body cannot be read as sent, whatever its bytes: a content coding (gzip, deflate,
 * br …) the server does not undo, which it read as JSON all the same (a body claiming gzip
 * but sent plain was written), or a charset other than UTF-8 (UTF-16 or Latin-1 text was
 * read as UTF-8). Both are 415, as another media type is.
 */
function unreadableAsSent(request: FastifyRequest): string | undefined {
  const coding = request.headers['content-encoding'];
  // Every decision comes this way: the usual request (no coding, no parameter) allocates nothing here.
  if (coding === undefined && !request.headers['content-type']?.includes(';')) return undefined;
  const codings = (coding ?? '').split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  if (codings.some((c) => c !== 'identity')) return `Content-Encoding ${coding!.slice(0, 64)}: send the body as is (identity), not encoded`;
  for (const parameter of (request.headers['content-type'] ?? '').split(';').slice(1)) {
    const [name = '', value = ''] = parameter.split('=', 2).map((part) => part.trim());
    const charset = value.replace(/^"(.*)"$/, '$1').toLowerCase();
    if (name.toLowerCase() === 'charset' && !UTF8_LABELS.has(charset)) return `charset ${charset.slice(0, 64)}: send application/json in UTF-8`;
  }
  return undefined;
}

/**
 * JSON bodies are read as bytes, as sent (415 for a content coding or a charset other
 * than UTF-8), and decoded strictly (MALFORMED_TEXT when they are not UTF-8, as an
 * escaped lone surrogate or a percent-escape is), go through Fastify's own
 * safe parser (prototype poisoning is an error), then text that is not well-formed (a NUL,
 * a lone surrogate: http/text-guard.ts) is refused at the door. The only body type:
 * anything else is 415. An empty (or blank) body is no body, whatever its content type
 * says: clients set `application/json` on every call, a body-less one included, and that
 * is no malformed JSON. A route that needs a body then refuses it as it refuses a request
 * without one (VALIDATION_FAILED).
 */
export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, bytes, done) => {
    const unreadable = unreadableAsSent(request);
    if (unreadable) return done(new AppError('UNSUPPORTED_MEDIA_TYPE', unreadable), undefined);
    let body: string;
    try {
      body = utf8.decode(bytes as Buffer);
    } catch {
      return done(malformedText('body: is not UTF-8'), undefined);
    }
    if (BLANK.test(body)) return done(null, undefined);
    parse(request, body, (error, value) => {
      if (error) return done(error, undefined);
      const fault = textFault(value, 'body');
      if (fault) return done(malformedText(fault), undefined);
      done(null, value);
    });
  });
}

/** A database outage or pile-up (db/errors.ts) as its 503, logged at warn: not a bug. */
function loggedDatabaseFailure(error: unknown, log: FastifyBaseLogger): AppError | undefined {
  const failure = databaseFailure(error);
  if (failure) log.warn({ err: error }, failure.code === 'DATABASE_BUSY' ? 'lost to concurrent transactions' : 'database unreachable');
  return failure;
}

type ValidationError = NonNullable<FastifyError['validation']>[number];

/**
 * The first failure in words. A value a field takes in either of two formats (a usage
 * range's date or date-time) failed both branches: both are named, not the first alone.
 */
function messageOf(first: ValidationError, all: readonly ValidationError[]): string {
  if (first.keyword !== 'format') return first.message ?? 'invalid';
  const formats = all.filter((e) => e.keyword === 'format' && e.instancePath === first.instancePath).map((e) => `"${String(e.params.format)}"`);
  return formats.length > 1 ? `must match format ${formats.join(' or ')}` : first.message ?? 'invalid';
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((thrown: FastifyError | AppError, request, reply) => {
    const error = loggedDatabaseFailure(thrown, request.log) ?? thrown;
    if (error instanceof AppError) {
      const retryAfterMs = error.details?.retryAfterMs;
      if (typeof retryAfterMs === 'number') reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)));
      return sendError(reply, request, error.code, error.message === error.code ? undefined : error.message);
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      const first = fastifyError.validation[0];
      const where = fastifyError.validationContext ?? 'body';
      const path = first?.instancePath ? first.instancePath.replace(/^\//, '').replaceAll('/', '.') : '';
      const extra = (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      const field = extra ? `${path ? `${path}.` : ''}${extra}` : path;
      return sendError(reply, request, 'VALIDATION_FAILED', `${where}${field ? `.${field}` : ''}: ${first ? messageOf(first, fastifyError.validation) : 'invalid'}`);
    }
    const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
    if (mapped) return sendError(reply, request, mapped);
    if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      return sendError(reply, request, fastifyError.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : fastifyError.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST');
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, request, 'INTERNAL');
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, request, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
}
