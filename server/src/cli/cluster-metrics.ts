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
    const answer = (reply: MetricsMessage) => {
      // The asker may have died meanwhile: a send to it fails, and must not take the primary down.
      if (worker.isConnected()) worker.send(reply, (error: Error | null) => void error);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ tollgate: 'metrics', id: message.id, text }),
      (error: unknown) => answer({ tollgate: 'metrics', id: message.id, error: String(error) }),
    );
  });
}

/**
 * A worker answers the primary's requests for its metrics from its first moment (its
 * registry joins once made; until then it reports none), so that a scrape while a worker
 * boots does not wait 5 s for it. Constructing an AggregatorRegistry in a worker is what
 * makes prom-client answer.
 */
export function answerClusterMetrics(): void {
  AggregatorRegistry.setRegistries([]);
  void new AggregatorRegistry();
}

/**
 * A worker's side: its registry is what it reports when the primary asks, and GET
 * /metrics answers the primary's sum rather than this worker's share of the requests.
 */
export function clusterExposition(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries(registry);
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
