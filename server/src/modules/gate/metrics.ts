import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DecisionLog } from './log.js';
import type { DecisionService } from './service.js';

/**
 * The decision's Prometheus metrics. The counts are the gate's own (plain integers on
 * the hot path), read when /metrics is scraped; only each batch is observed as it ends.
 */
export function createGateMetrics(registry: Registry) {
  const registers = [registry];
  const batchSize = new Histogram({
    name: 'tollgate_decision_batch_size', help: 'Authorize requests per group-commit batch statement',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers,
  });
  const batchSeconds = new Histogram({
    name: 'tollgate_decision_batch_seconds', help: 'A group-commit batch from sending its statement to its answer, commit included',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers,
  });
  return {
    observeBatch(size: number, seconds: number): void {
      batchSize.observe(size);
      batchSeconds.observe(seconds);
    },
    /** Registers the counts of a gate and its decision log, read at each scrape. */
    track(gate: DecisionService, log: DecisionLog): void {
      new Counter({
        name: 'tollgate_decisions_total', help: 'Authorize decisions answered, by code (replays included)', labelNames: ['code'], registers,
        collect() {
          this.reset();
          for (const [code, count] of Object.entries(gate.codes)) this.inc({ code }, count);
        },
      });
      new Counter({
        name: 'tollgate_decision_paths_total',
        help: 'How decisions were made: batched (group commit), alone (one transaction: no group commit, or handed back by the batch), memory (a meter known full, a call past its rate limit or meeting a rate store that is down, for a kind of request known past the earlier checks)',
        labelNames: ['path'], registers,
        collect() {
          this.reset();
          this.inc({ path: 'batched' }, gate.paths.batched);
          this.inc({ path: 'alone' }, gate.paths.alone);
          this.inc({ path: 'memory' }, gate.paths.fromMemory);
        },
      });
      new Counter({
        name: 'tollgate_decision_batches_refused_total', help: 'Batches the database refused (each of their requests was then decided alone)', registers,
        collect() {
          this.reset();
          this.inc(gate.paths.refusedBatches);
        },
      });
      new Gauge({
        name: 'tollgate_decision_batch_queue', help: 'Authorize requests waiting for a group-commit batch statement', registers,
        collect() {
          this.set(gate.queuedForBatch);
        },
      });
      trackLog(log, registers);
    },
  };
}

export type GateMetrics = ReturnType<typeof createGateMetrics>;

/** The decision log's counts, read at each scrape. */
function trackLog(log: DecisionLog, registers: Registry[]): void {
  new Gauge({
    name: 'tollgate_decision_log_pending', help: 'Decision-log rows buffered, not yet written', registers,
    collect() {
      this.set(log.pendingRows);
    },
  });
  new Gauge({
    name: 'tollgate_decision_log_oldest_pending_seconds',
    help: 'Age of the oldest decision whose log row is not written yet: how far back a process killed now (kill -9) would lose log rows; about the flush interval (1 s) while the database keeps up',
    // A cluster reports its worst worker, not a sum of ages.
    registers, aggregator: 'max',
    collect() {
      this.set(log.oldestPendingSeconds);
    },
  });
  new Counter({
    name: 'tollgate_decision_log_dropped_total', help: 'Decision-log rows dropped because the buffer was full (the database could not take them)', registers,
    collect() {
      this.reset();
      this.inc(log.droppedRows);
    },
  });
  new Counter({
    name: 'tollgate_decision_counts_dropped_total',
    help: 'Allowed decisions not added to the day counts: their write stayed unsure (the database out of reach) past the time its id is kept', registers,
    collect() {
      this.reset();
      this.inc(log.droppedCounts);
    },
  });
}
