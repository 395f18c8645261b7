import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/errors.js';

/**
 * Text the database cannot store or compare is refused at the edge, before it reaches a
 * service, a cache or a batched writer shared by every tenant: a NUL character (PostgreSQL
 * text cannot hold one) and a lone UTF-16 surrogate (not Unicode at all: jsonb refuses it,
 * and one such row made a whole batch fail). Nothing legitimate sends either.
 */
export function textFault(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return stringFault(value, path);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const fault = textFault(value[i], `${path}.${i}`);
      if (fault) return fault;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      const fault = stringFault(key, `${path} (a field name)`) ?? textFault(child, `${path}.${key}`);
      if (fault) return fault;
    }
  }
  return undefined;
}

/** In a `u` pattern a surrogate pair is one code point, so only a lone surrogate is category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;

function stringFault(text: string, path: string): string | undefined {
  if (text.includes('\u0000')) return `${path}: holds a NUL character`;
  if (LONE_SURROGATE.test(text)) return `${path}: is not well-formed Unicode (a lone UTF-16 surrogate)`;
  return undefined;
}

/** The 400 for text that fails textFault(). */
export function malformedText(fault: string): AppError {
  return new AppError('MALFORMED_TEXT', fault);
}

/**
 * The query string's percent-escapes must decode to UTF-8 (the parser keeps a malformed
 * one, such as an encoded surrogate `%ED%A0%80`, as literal text); then the decoded query
 * and path parameters go through textFault(). Bodies are checked as they are parsed
 * (http/error-handler.ts).
 */
export function registerTextGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const url = request.raw.url ?? '';
    const at = url.indexOf('?');
    if (at >= 0 && url.includes('%', at)) {
      for (const piece of url.slice(at + 1).split(/[&=]/)) {
        try {
          decodeURIComponent(piece);
        } catch {
          throw malformedText('querystring: a percent-escape that is not UTF-8');
        }
      }
    }
    const fault = textFault(request.query, 'querystring') ?? textFault(request.params, 'params');
    if (fault) throw malformedText(fault);
  });
}
