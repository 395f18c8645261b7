import type { FastifyInstance, FastifyRequest } from 'fastify';

type RouteOptions = FastifyRequest['routeOptions'];

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's route options as first read (routeOf). */
    routeRead: RouteOptions | null;
  }
}

/**
 * The request's route options (its URL pattern, its config), read once per request.
 * Fastify's `request.routeOptions` builds a new object of a dozen fields at every read,
 * and the hooks read it six times a request (~0.85 KB of a decision's allocations).
 */
export function routeOf(request: FastifyRequest): RouteOptions {
  return (request.routeRead ??= request.routeOptions);
}

/** Gives every request the slot routeOf keeps the options in (before any hook reads them). */
export function registerRouteOf(app: FastifyInstance): void {
  app.decorateRequest('routeRead', null);
}
