import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { routeOf } from './route-of.js';

export interface Metrics {
  registry: Registry;
  /**
   * The text GET /metrics answers: this process's registry; in a cluster's worker, every
   * worker's, summed by the primary (cli/cluster-metrics.ts), so a scrape that reaches
   * any worker sees the whole service.
   */
  exposition: () => Promise<string>;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_' });
  return {
    registry,
    exposition: () => registry.metrics(),
    httpRequests: new Counter({ name: 'tollgate_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    httpDuration: new Histogram({
      name: 'tollgate_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
    }),
  };
}

/** Rows background writers (writer → its count) gave up because the database refused what they held; their batches were written without them. */
export function trackRefusedRows(registry: Registry, writers: Record<string, { readonly refusedRows: number }>): void {
  new Counter({
    name: 'tollgate_background_rows_refused_total', help: 'Rows of a batched background write the database refused for what they held (each logged, the rest of the batch written)',
    labelNames: ['writer'], registers: [registry],
    collect() {
      this.reset();
      for (const [writer, counts] of Object.entries(writers)) this.inc({ writer }, counts.refusedRows);
    },
  });
}

export function registerMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = routeOf(request).url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { auth: 'public' }, schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.exposition();
  });
}
