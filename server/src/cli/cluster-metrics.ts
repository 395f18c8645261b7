import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

/** A worker's ask for the cluster's metrics, and the primary's answer. */
interface MetricsMessage { tollgate: 'metrics'; id: number; text?: string; error?: string }

const isMetricsMessage = (m: unknown): m is MetricsMessage => (m as MetricsMessage | null)?.tollgate === 'metrics';

/**
 * The primary's side: a worker asking for the cluster's metrics gets every worker's
 * registry summed (prom-client's AggregatorRegistry asks each worker over IPC).
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMetricsMessage(message)) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ tollgate: 'metrics', id: message.id, text } satisfies MetricsMessage),
      (error: unknown) => worker.send({ tollgate: 'metrics', id: message.id, error: String(error) } satisfies MetricsMessage),
    );
  });
}

/**
 * A worker's side: its registry is what it reports when the primary asks, and GET
 * /metrics answers the primary's sum rather than this worker's share of the requests.
 */
export function clusterExposition(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries(registry);
  // Constructing one makes this worker answer the primary's requests for its registry.
  void new AggregatorRegistry();
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMetricsMessage(message)) return;
    const asker = waiting.get(message.id);
    if (!asker) return;
    waiting.delete(message.id);
    if (message.text !== undefined) asker.resolve(message.text);
    else asker.reject(new Error(`the cluster's metrics: ${message.error ?? 'no answer'}`));
  });
  return () => new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    process.send!({ tollgate: 'metrics', id } satisfies MetricsMessage);
  });
}
