import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';
import { DAY_MS } from '../lib/clock.js';
import { AppError } from '../lib/errors.js';

/** Where `npm run build -w console` (run by the root postinstall, so by `npm ci`) writes the console. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

/**
 * The page's own headers: scripts, styles and calls from this origin only (the console
 * reaches the API on the same origin), never framed. Recharts sets inline styles.
 */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * `GET /console` and everything under it: the console's built files (docs/console.md).
 * A path naming a file (`/console/assets/index-….js`) is that file, or a 404; any other
 * path is the page itself (the console routes in the browser), so a reload or a link to
 * `/console/admin/tenants/tnt_…` opens that view. These routes are public (the page holds
 * no data: it calls the API with the user's token) and hidden: they are no API routes,
 * so the OpenAPI document and the route table (the bad-input and cross-tenant suites)
 * leave them out.
 */
export const consoleRoutes: FastifyPluginAsync<{ root?: string }> = async (app, { root = CONSOLE_DIST }) => {
  const built = existsSync(`${root}/index.html`);
  // serve: false — no route of the plugin's own: only reply.sendFile, under the routes below.
  if (built) await app.register(fastifyStatic, { root, serve: false });
  const options = { config: { auth: 'public' as const }, schema: { hide: true } };
  const notBuilt = () => new AppError('NOT_FOUND', 'the console is not built: run `npm run build -w console` (npm ci does it), then restart');

  const page = async (_request: unknown, reply: FastifyReply) => {
    if (!built) throw notBuilt();
    return reply.headers({ ...PAGE_HEADERS, 'cache-control': 'no-cache' }).sendFile('index.html', { cacheControl: false });
  };
  app.get('/console', options, page);
  app.get<{ Params: { '*': string } }>('/console/*', options, async (request, reply) => {
    const path = request.params['*'];
    const last = path.split('/').at(-1) ?? '';
    if (!last.includes('.')) return page(request, reply);
    if (!built) throw notBuilt();
    // Vite names built assets by their content: cached for good.
    const immutable = path.startsWith('assets/');
    reply.header('x-content-type-options', 'nosniff');
    return reply.sendFile(path, { immutable, maxAge: immutable ? 365 * DAY_MS : 0 });
  });
};
