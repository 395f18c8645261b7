import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { AppError, type ErrorCode } from '../lib/errors.js';
import { errorAnswer } from './error-handler.js';

/**
 * Where a request's id is kept on its IncomingMessage: a property of its own, not a
 * WeakMap entry — every request gets one, and a WeakMap's entries are ephemerons the
 * garbage collector works through one by one (1.4 % of a decision's CPU samples).
 */
const REQUEST_ID = Symbol('tollgate.requestId');
type WithId = IncomingMessage & { [REQUEST_ID]?: string };

/**
 * The client's X-Request-Id when it is a sane one (it is echoed and logged), else a new id:
 * one per request, so that an answer written below Fastify (a request that stopped
 * arriving) carries the id its log lines carry.
 */
export function requestIdOf(raw: WithId | undefined): string {
  const known = raw?.[REQUEST_ID];
  if (known) return known;
  const given = raw?.headers['x-request-id'];
  const id = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : `req_${randomUUID()}`;
  if (raw) raw[REQUEST_ID] = id;
  return id;
}

/** Node's errors (llhttp's HPE_* and its own) that have a code of their own; any other is BAD_REQUEST. */
const NODE_CODES: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'HEADERS_TOO_LARGE',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'PAYLOAD_TOO_LARGE',
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
};

type ClientError = Error & { code?: string; reason?: string };

/** A whole HTTP/1.1 answer with the error body, for a socket no ServerResponse writes to; the connection closes after it. */
function rawAnswer(code: ErrorCode, requestId: string, message?: string): string {
  const { status, body } = errorAnswer(code, requestId, message);
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(text)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${text}`;
}

/**
 * What Node cannot read as a request (a header over its size, a control character in a
 * header, a malformed request target or Content-Length, an unknown method, a request not
 * complete in time) never reaches the router, and Fastify's own answer has no catalog
 * code and no request id. This one has both, wherever the socket can still be written: not
 * once an answer to the request on it has begun. The socket is closed either way: what
 * follows on it cannot be told apart from the rest of the bad request.
 */
export function clientErrorHandler(this: FastifyInstance, error: ClientError, socket: Duplex): void {
  // A reset connection is gone: nothing to answer, nothing worth a line.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const code = NODE_CODES[error.code ?? ''] ?? 'BAD_REQUEST';
    const requestId = requestIdOf(inFlight?.req);
    const message = code === 'BAD_REQUEST' ? `not an HTTP/1.1 request the server reads: ${error.reason ?? error.code ?? 'malformed'}` : undefined;
    socket.write(rawAnswer(code, requestId, message));
    // Never the error itself: Node keeps the bytes it read (an Authorization header) on it.
    this.log.info({ requestId, code, cause: error.code }, 'client error');
  }
  socket.destroy();
}

/**
 * The answers Node gives by itself above the parser, in the catalog's body: an HTTP/1.1
 * request without Host (Node's check is turned off in app.ts for this one), an Expect
 * other than 100-continue (417, after which a client may send again without it), and
 * CONNECT, which Node hands over as a tunnel and no route serves (the 404 of any other
 * method without a route). The Host check runs after the request id is set.
 */
export function registerProtocolAnswers(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && !request.headers.host) throw new AppError('BAD_REQUEST', 'an HTTP/1.1 request needs a Host header');
  });
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const requestId = requestIdOf(req);
    const { status, body } = errorAnswer('EXPECTATION_FAILED', requestId);
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-request-id': requestId }).end(text);
  });
  app.server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    socket.write(rawAnswer('NOT_FOUND', requestIdOf(req), `no route CONNECT ${req.url ?? ''}`));
    socket.destroy();
  });
}
