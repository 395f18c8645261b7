import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/errors.js';

/**
 * The headers that say who calls and for whom, each of which a request may carry once.
 * Node keeps the first Authorization of a request and drops the others, and joins the
 * repeats of a custom header with ", ": a request with two credentials was served as
 * whichever came first, unseen by anything reading `request.headers`. The credential is
 * read from Authorization alone (http/auth-hook.ts), so there is no other place to compare.
 */
const SINGLE_HEADERS = ['Authorization', 'Tollgate-Tenant', 'Tollgate-On-Behalf-Of'];
const INDEX = new Map(SINGLE_HEADERS.map((name, i) => [name.toLowerCase(), i]));
const LENGTHS = new Set(SINGLE_HEADERS.map((name) => name.length));

/**
 * Refuses a request naming its caller, tenant or user more than once, whatever the values
 * and their order, before a credential is read or a handler runs. Node's raw headers keep
 * every occurrence as sent. Every decision comes this way: a bit per header, no allocation,
 * no promise.
 */
export function registerSingleHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const raw = request.raw.rawHeaders;
    let seen = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      // Only a name of one of their lengths can be one of them: most headers are not looked up.
      if (!LENGTHS.has(name.length)) continue;
      const index = INDEX.get(name.toLowerCase());
      if (index === undefined) continue;
      const bit = 1 << index;
      if (seen & bit) return done(new AppError('BAD_REQUEST', `the ${SINGLE_HEADERS[index]} header appears more than once: a request carries one of it`));
      seen |= bit;
    }
    done();
  });
}
