import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import { DAY_MS, type Clock } from '../../lib/clock.js';
import type { Mailer } from '../../lib/mailer.js';
import type { Sealer } from '../../lib/secrets.js';
import { PLATFORM_TENANT_ID, type AuditService } from '../audit/index.js';
import * as repo from './repo.js';
import { send, type AttemptResult, type OutgoingMessage } from './sender.js';
import type { TargetPolicy } from './targets.js';

export interface DispatchOptions {
  timeoutSeconds: number;
  concurrency: number;
  maxAttempts: number;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  disableAfterSeconds: number;
  disableAfterFailures: number;
  retentionDays: number;
}

export interface DispatchParts {
  db: Db;
  clock: Clock;
  policy: TargetPolicy;
  /** Opens endpoints' whsec_ secrets (sealed bound to the endpoint's id). */
  sealer: Sealer;
  audit: AuditService;
  mailer: Mailer;
  /** Whom to tell that an endpoint was disabled: the tenant's owners, or the operator who made it. */
  recipients: (endpoint: repo.EndpointRow) => Promise<string[]>;
  options: DispatchOptions;
  /** A fault of one delivery's bookkeeping (never the receiver's answer: that is the delivery log). */
  onError: (error: unknown) => void;
  /** The random part of the backoff (tests may fix it). */
  random?: () => number;
  /** Sends one attempt (tests may replace the network). */
  sender?: (m: OutgoingMessage) => Promise<AttemptResult>;
}

/** Events fanned out per statement. */
const FAN_OUT_BATCH = 500;
/** Tenants with pending deliveries one claim looks at (repo.claimDue); the next claim goes on from there. */
const CLAIM_MAX_TENANTS = 500;
/** Events pruned per transaction, and transactions per prune: a backlog beyond is taken up at the next tick. */
const PRUNE_BATCH = 1000;
const PRUNE_MAX_BATCHES = 10;
/** How often a process prunes, by its clock, after the first tick of its life. */
const PRUNE_EVERY_MS = 3_600_000;

/**
 * The background worker of the outbox, one per process, any number of processes: each
 * round fans new events out into deliveries (each event once, under SKIP LOCKED), then
 * claims the deliveries that are due under a lease (a process that dies mid-attempt
 * leaves its claims to expire, and they are sent again: at least once), sends them
 * signed, and records each attempt: succeeded, or retried later with exponential backoff
 * and jitter, or failed after maxAttempts. An endpoint failing for disableAfterSeconds
 * (and at least disableAfterFailures attempts in a row) is disabled, audited, and its
 * owner told by mail.
 *
 * One tenant's slow endpoints do not hold up the others': up to `concurrency` attempts
 * are in flight, and as they end (each on its own, not a batch waiting for its slowest)
 * new events are fanned out and more deliveries claimed, in turns across tenants.
 */
export class WebhookDispatcher {
  private readonly random: () => number;
  private readonly sender: (m: OutgoingMessage) => Promise<AttemptResult>;
  /** When this process prunes next (epoch ms): at its first tick, whenever it started. */
  private pruneDueAt = Number.NEGATIVE_INFINITY;
  /** The tenant this process's next claim starts after (repo.claimDue's round-robin). */
  private claimAfter = '';

  constructor(private readonly p: DispatchParts) {
    this.random = p.random ?? Math.random;
    this.sender = p.sender ?? ((m) => send(p.policy, m, p.options.timeoutSeconds * 1000));
  }

  /**
   * The background worker's tick (startWebhookDispatcher): a round, then a prune when one
   * is due — at the process's first tick, then hourly by the clock, and at the next tick
   * again while a prune left a backlog. A process that restarts often still prunes.
   */
  async tick(): Promise<void> {
    await this.runOnce();
    const now = this.p.clock.now().getTime();
    if (now < this.pruneDueAt) return;
    const { more } = await this.prune();
    this.pruneDueAt = more ? now : now + PRUNE_EVERY_MS;
  }

  /**
   * One round: fan out, then send what is due until nothing is left due now. Up to
   * `concurrency` attempts are in flight; whenever a quarter of them have ended, new events
   * are fanned out and the free places claimed (fairly across tenants: repo.claimDue), so
   * an event committed during a long round is sent in it. What it did, for tests and the log.
   */
  async runOnce(): Promise<{ fannedOut: number; attempted: number; succeeded: number }> {
    const { concurrency } = this.p.options;
    const refill = Math.max(1, Math.floor(concurrency / 4));
    const inFlight = new Set<Promise<void>>();
    let fannedOut = 0;
    let attempted = 0;
    let succeeded = 0;
    let more = true;
    try {
      for (;;) {
        const free = concurrency - inFlight.size;
        if (more && (free >= refill || inFlight.size === 0)) {
          fannedOut += await this.fanOut();
          const claim = await this.claim(free);
          more = claim.more;
          attempted += claim.deliveries.length;
          for (const d of claim.deliveries) {
            const running: Promise<void> = this.attempt(d.delivery, d.token)
              .then((ok) => { if (ok) succeeded++; }, (error: unknown) => this.p.onError(error))
              .finally(() => inFlight.delete(running));
            inFlight.add(running);
          }
        }
        if (inFlight.size === 0) {
          if (!more) break;
          continue;
        }
        await Promise.race(inFlight);
      }
    } catch (error) {
      // A fan-out or claim that failed ends the round once the attempts out are recorded,
      // so that the next round does not put more than `concurrency` in flight.
      await Promise.all(inFlight);
      throw error;
    }
    return { fannedOut, attempted, succeeded };
  }

  /** Fans out the events not fanned out yet, a batch per statement. */
  private async fanOut(): Promise<number> {
    let fannedOut = 0;
    for (;;) {
      const { events } = await inSystem(this.p.db, (tx) => repo.fanOut(tx, this.p.clock.now(), FAN_OUT_BATCH));
      fannedOut += events;
      if (events < FAN_OUT_BATCH) return fannedOut;
    }
  }

  /**
   * Claims up to `free` due deliveries, going on from the tenant the last claim stopped
   * after, and around to the first tenants when the last ones have no more. `more`: there
   * may be more due now (the claim was full, or not every tenant was looked at).
   */
  private async claim(free: number): Promise<{ deliveries: { delivery: repo.ClaimedDelivery; token: string }[]; more: boolean }> {
    const now = this.p.clock.now();
    const token = randomBytes(12).toString('base64url');
    const leaseUntil = new Date(now.getTime() + (this.p.options.timeoutSeconds * 2 + 30) * 1000);
    const deliveries: repo.ClaimedDelivery[] = [];
    let after = this.claimAfter;
    let reachedEnd = false;
    for (let pass = 0; pass < 2 && deliveries.length < free; pass++) {
      const claim = await inSystem(this.p.db, (tx) => repo.claimDue(tx, {
        now, leaseUntil, token, limit: free - deliveries.length, after, maxTenants: CLAIM_MAX_TENANTS,
      }));
      deliveries.push(...claim.deliveries);
      this.claimAfter = claim.next;
      reachedEnd = claim.reachedEnd;
      // Around to the first tenants only when this pass started after some.
      if (!claim.reachedEnd || after === '') break;
      after = '';
    }
    // A short claim is no proof the backlog is done: another process's claim may have held
    // (SKIP LOCKED) the rows this one looked at, with more due behind them. The round goes
    // on until a claim finds nothing.
    return { deliveries: deliveries.map((delivery) => ({ delivery, token })), more: deliveries.length > 0 || !reachedEnd };
  }

  /**
   * Deletes events (and their finished deliveries) past the retention, a batch per
   * transaction until a batch comes back short, or PRUNE_MAX_BATCHES of them (`more`: a
   * backlog may be left); and rotated-out secrets past their grace.
   */
  async prune(): Promise<{ deleted: number; more: boolean }> {
    await inSystem(this.p.db, (tx) => repo.dropExpiredSecrets(tx, this.p.clock.now()));
    const before = new Date(this.p.clock.now().getTime() - this.p.options.retentionDays * DAY_MS);
    let deleted = 0;
    for (let batch = 0; batch < PRUNE_MAX_BATCHES; batch++) {
      const n = await inSystem(this.p.db, (tx) => repo.prune(tx, before, PRUNE_BATCH));
      deleted += n;
      if (n < PRUNE_BATCH) return { deleted, more: false };
    }
    return { deleted, more: true };
  }

  /** Retry delay after `attempts` failed attempts: base · 2^(attempts-1), capped, ±25 % jitter. */
  backoffMs(attempts: number): number {
    const o = this.p.options;
    const delay = Math.min(o.retryMaxSeconds, o.retryBaseSeconds * 2 ** Math.min(attempts - 1, 40));
    return Math.round(delay * 1000 * (0.75 + this.random() * 0.5));
  }

  private async attempt(d: repo.ClaimedDelivery, token: string): Promise<boolean> {
    if (d.endpointStatus !== 'enabled') {
      await inSystem(this.p.db, (tx) => repo.recordAttempt(tx, {
        tenantId: d.tenantId, id: d.id, token, status: 'failed', attempts: d.attempts, nextAttemptAt: null, responseStatus: null,
        error: 'the endpoint is disabled', now: this.p.clock.now(),
      }));
      return false;
    }
    const body = JSON.stringify({ type: d.type, timestamp: d.eventAt.toISOString(), data: d.data });
    const result = await this.sender({
      url: d.url, secret: this.p.sealer.unseal(d.secretSealed, d.endpointId),
      previousSecret: d.previousSecretSealed === null ? undefined : this.p.sealer.unseal(d.previousSecretSealed, d.endpointId),
      webhookId: d.eventId, timestamp: this.p.clock.now(), body,
    });
    const now = this.p.clock.now();
    const attempts = d.attempts + 1;
    const gaveUp = !result.ok && attempts >= this.p.options.maxAttempts;
    const disabled = await inSystem(this.p.db, async (tx) => {
      // The endpoint first, then the delivery (repo.lockEndpoint): the same order as a
      // disable, which fails the endpoint's pending deliveries, the others' among them.
      const current = await repo.lockEndpoint(tx, d.endpointId);
      if (!current) return undefined; // deleted, with its deliveries
      // Disabled while this attempt was out: nothing more is sent to it, this one neither.
      const over = gaveUp || current.status !== 'enabled';
      const recorded = await repo.recordAttempt(tx, {
        tenantId: d.tenantId, id: d.id, token, status: result.ok ? 'succeeded' : over ? 'failed' : 'pending', attempts,
        nextAttemptAt: result.ok || over ? null : new Date(now.getTime() + this.backoffMs(attempts)),
        responseStatus: result.status, error: result.error, now,
      });
      if (!recorded || current.status !== 'enabled') return undefined;
      const endpoint = await repo.endpointAttempted(tx, d.endpointId, result.ok, now);
      if (!endpoint || result.ok || !this.failingTooLong(endpoint, now)) return undefined;
      const reason = `failing since ${endpoint.failingSince!.toISOString()} (${endpoint.consecutiveFailures} attempts in a row); last: ${result.error ?? 'no answer'}`;
      const off = await repo.disableEndpoint(tx, endpoint.id, reason, now);
      if (!off) return undefined;
      await this.p.audit.record(tx, {
        tenantId: off.ownerTenantId ?? PLATFORM_TENANT_ID, actor: { type: 'system', id: null }, action: 'webhook.disable',
        target: { type: 'webhook', id: off.id }, data: { url: off.url, reason },
      });
      return off;
    });
    if (disabled) await this.tell(disabled);
    return result.ok;
  }

  private failingTooLong(endpoint: repo.EndpointRow, now: Date): boolean {
    if (endpoint.status !== 'enabled' || endpoint.failingSince === null) return false;
    return now.getTime() - endpoint.failingSince.getTime() >= this.p.options.disableAfterSeconds * 1000
      && endpoint.consecutiveFailures >= this.p.options.disableAfterFailures;
  }

  /** Mail to the owners; a mail that cannot be sent is the mailer's to log (the audit entry is written). */
  private async tell(endpoint: repo.EndpointRow): Promise<void> {
    const to = await this.p.recipients(endpoint);
    for (const address of to) {
      await this.p.mailer.send({
        kind: 'webhook_disabled', to: address,
        subject: 'A Tollgate webhook endpoint was disabled',
        text: [
          `The webhook endpoint ${endpoint.id} (${endpoint.url}) was disabled: ${endpoint.disabledReason}.`,
          '',
          'Nothing more is sent to it. Fix the receiver, then enable the endpoint again (POST …/webhooks/{id}/enable,',
          'or Enable in the console): it keeps its id and secret, and what failed can be retried;',
          'the delivery log (GET …/webhooks/{id}/deliveries) shows what each attempt got back.',
        ].join('\n'),
      }).catch(this.p.onError);
    }
  }
}
