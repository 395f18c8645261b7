import type { FastifyInstance } from 'fastify';
import { AppError } from '../lib/errors.js';

/**
 * The headers that say who calls and for whom, each of which a request may carry once.
 * Node keeps the first Authorization of a request and drops the others, and joins the
 * repeats of a custom header with ", ": a request with two credentials was served as
 * whichever came first, unseen by anything reading `request.headers`. The credential is
 * read from Authorization alone (http/auth-hook.ts), so there is no other place to compare.
 */
const SINGLE_HEADERS = new Map(['Authorization', 'Tollgate-Tenant', 'Tollgate-On-Behalf-Of'].map((name) => [name.toLowerCase(), name]));

/**
 * Refuses a request naming its caller, tenant or user more than once, whatever the values
 * and their order, before a credential is read or a handler runs. Node's raw headers keep
 * every occurrence as sent.
 */
export function registerSingleHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const raw = request.raw.rawHeaders;
    const seen = new Set<string>();
    for (let i = 0; i < raw.length; i += 2) {
      const name = SINGLE_HEADERS.get(raw[i]!.toLowerCase());
      if (name === undefined) continue;
      if (seen.has(name)) throw new AppError('BAD_REQUEST', `the ${name} header appears more than once: a request carries one of it`);
      seen.add(name);
    }
  });
}
