import { randomBytes } from 'node:crypto';
import type { Db, Tx } from '../../db/client.js';
import { lockKey } from '../../db/locks.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { keysetPage } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { CallContext } from '../../lib/principal.js';
import type { Sealer } from '../../lib/secrets.js';
import { PLATFORM_TENANT_ID, type Actor, type AuditService } from '../audit/index.js';
import * as repo from './repo.js';
import type { EventType } from './tables.js';
import type { TargetPolicy } from './targets.js';

export interface EndpointView {
  id: string;
  /** The tenant whose events it receives; null for an operator's endpoint (every tenant's). */
  tenantId: string | null;
  url: string;
  events: EventType[];
  description: string | null;
  status: 'enabled' | 'disabled';
  /** Until when the secret a rotation replaced still signs deliveries beside the current one (null: none does). */
  previousSecretExpiresAt: string | null;
  failingSince: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
  createdAt: string;
}

export interface DeliveryView {
  id: string;
  endpointId: string;
  /** The webhook-id of every attempt. */
  eventId: string;
  eventType: EventType;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  responseStatus: number | null;
  lastError: string | null;
  createdAt: string;
}

export interface NewEndpoint { url: string; events: EventType[]; description?: string | undefined }

/** Who acts on which endpoints: a tenant's owner or admin on its own, an operator on the operators'. */
export type Manager = { tenantId: string; actor: Actor } | { tenantId: null; actor: Actor & { type: 'operator' } };

export interface EndpointOptions {
  /** Endpoints a tenant may have; operators' are not counted. */
  maxEndpointsPerTenant: number;
  /** How long a rotated-out secret still signs deliveries (0: not at all). */
  secretGraceSeconds: number;
}

/** Endpoints and their delivery logs (routes.ts); the dispatcher delivers (dispatcher.ts). */
export class WebhookService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly policy: TargetPolicy,
    /** whsec_ secrets at rest, each bound to its endpoint's id. */
    private readonly sealer: Sealer,
    private readonly options: EndpointOptions,
  ) {}

  /** Seals again, under the current master secret, every endpoint secret sealed under a previous one (`tollgate secrets reseal`). */
  async reseal(inTx?: (tx: Tx, count: number) => Promise<void>): Promise<number> {
    return inSystem(this.db, async (tx) => {
      let count = 0;
      for (const row of await repo.allSealed(tx)) {
        const current = this.sealer.resealed(row.secretSealed, row.id);
        const previous = row.previousSecretSealed === null ? null : this.sealer.resealed(row.previousSecretSealed, row.id);
        if (current === null && previous === null) continue;
        await repo.setSealed(tx, row.id, { secretSealed: current ?? row.secretSealed, previousSecretSealed: previous ?? row.previousSecretSealed });
        count += Number(current !== null) + Number(previous !== null);
      }
      if (inTx) await inTx(tx, count);
      return count;
    });
  }

  /**
   * A new endpoint; its whsec_ secret is returned this once (kept sealed, to sign with). A
   * tenant at maxEndpointsPerTenant is refused (every endpoint multiplies each of its
   * events into a delivery the dispatcher sends), counted under a lock of the tenant's
   * endpoints so that concurrent creates cannot pass it together.
   */
  async create(who: Manager, input: NewEndpoint, ctx: CallContext): Promise<EndpointView & { secret: string }> {
    const checked = await this.policy.check(input.url);
    if (!checked.ok) throw new AppError(checked.error.code, checked.error.message);
    const now = this.clock.now();
    const secret = newSecret();
    const id = newId('whk', now.getTime());
    const row: repo.EndpointRow = {
      id, ownerTenantId: who.tenantId, url: checked.url.href, events: [...new Set(input.events)],
      description: input.description ?? null, secretSealed: this.sealer.seal(secret, id), previousSecretSealed: null, previousSecretExpiresAt: null, status: 'enabled',
      createdBy: who.actor.id, createdAt: now, updatedAt: now, failingSince: null, consecutiveFailures: 0, disabledAt: null, disabledReason: null,
    };
    await this.scoped(who, async (tx) => {
      if (who.tenantId !== null) {
        await lockKey(tx, who.tenantId, 'webhook-endpoints');
        if (await repo.countEndpoints(tx, who.tenantId) >= this.options.maxEndpointsPerTenant) throw new AppError('WEBHOOK_LIMIT_REACHED');
      }
      await repo.insertEndpoint(tx, row);
      await this.audit.record(tx, {
        tenantId: who.tenantId ?? PLATFORM_TENANT_ID, actor: who.actor, action: 'webhook.create', target: { type: 'webhook', id: row.id },
        data: { url: row.url, events: row.events }, requestId: ctx.requestId,
      });
    });
    return { ...toEndpointView(row), secret };
  }

  /**
   * A new whsec_ secret for the endpoint, returned this once. The one it replaces keeps
   * signing deliveries beside it for secretGraceSeconds (webhook-signature carries both), so
   * that receivers can move to the new one without an event failing verification; a
   * rotation within the grace replaces that one too. The endpoint keeps its id, delivery log
   * and pending deliveries.
   */
  async rotateSecret(who: Manager, id: string, ctx: CallContext): Promise<EndpointView & { secret: string }> {
    const now = this.clock.now();
    const secret = newSecret();
    const grace = this.options.secretGraceSeconds;
    const previousUntil = grace > 0 ? new Date(now.getTime() + grace * 1000) : null;
    return this.scoped(who, async (tx) => {
      const row = await repo.rotateSecret(tx, who, id, this.sealer.seal(secret, id), previousUntil, now);
      if (!row) throw new AppError('WEBHOOK_NOT_FOUND');
      await this.audit.record(tx, {
        tenantId: who.tenantId ?? PLATFORM_TENANT_ID, actor: who.actor, action: 'webhook.rotate_secret', target: { type: 'webhook', id },
        data: { url: row.url, previousSecretExpiresAt: iso(previousUntil) }, requestId: ctx.requestId,
      });
      return { ...toEndpointView(row), secret };
    });
  }

  async list(who: Manager, q: { cursor?: string | undefined; limit: number }): Promise<{ webhooks: EndpointView[]; nextCursor: string | null }> {
    return this.scoped(who, async (tx) => {
      const page = await keysetPage(q, (before, limit) => repo.listEndpoints(tx, who, before, limit));
      return { webhooks: page.items.map(toEndpointView), nextCursor: page.nextCursor };
    });
  }

  /** Deletes the endpoint and its delivery log; nothing more is sent to it. */
  async remove(who: Manager, id: string, ctx: CallContext): Promise<void> {
    await this.scoped(who, async (tx) => {
      const row = await repo.findEndpoint(tx, who, id);
      if (!row || !(await repo.deleteEndpoint(tx, who, id))) throw new AppError('WEBHOOK_NOT_FOUND');
      await this.audit.record(tx, {
        tenantId: who.tenantId ?? PLATFORM_TENANT_ID, actor: who.actor, action: 'webhook.delete', target: { type: 'webhook', id },
        data: { url: row.url }, requestId: ctx.requestId,
      });
    });
  }

  /**
   * Enables a disabled endpoint again, once its receiver works: events from now on are sent
   * to it (those of the time it was disabled are not), its failed deliveries can be retried,
   * and it keeps its id and whsec_ secret. Its URL is checked again, as at creation. An
   * endpoint already enabled is answered as it is, and nothing is written.
   */
  async enable(who: Manager, id: string, ctx: CallContext): Promise<EndpointView> {
    const found = await this.scoped(who, (tx) => repo.findEndpoint(tx, who, id));
    if (!found) throw new AppError('WEBHOOK_NOT_FOUND');
    if (found.status === 'enabled') return toEndpointView(found);
    const checked = await this.policy.check(found.url);
    if (!checked.ok) throw new AppError(checked.error.code, checked.error.message);
    return this.scoped(who, async (tx) => {
      const row = await repo.enableEndpoint(tx, who, id, this.clock.now());
      if (!row) {
        // Deleted, or enabled by another caller, since it was read.
        const now = await repo.findEndpoint(tx, who, id);
        if (!now) throw new AppError('WEBHOOK_NOT_FOUND');
        return toEndpointView(now);
      }
      await this.audit.record(tx, {
        tenantId: who.tenantId ?? PLATFORM_TENANT_ID, actor: who.actor, action: 'webhook.enable', target: { type: 'webhook', id },
        data: { url: row.url, disabledReason: found.disabledReason }, requestId: ctx.requestId,
      });
      return toEndpointView(row);
    });
  }

  async deliveries(who: Manager, id: string, q: { cursor?: string | undefined; limit: number }): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> {
    return this.scoped(who, async (tx) => {
      if (!(await repo.findEndpoint(tx, who, id))) throw new AppError('WEBHOOK_NOT_FOUND');
      const page = await keysetPage(q, (before, limit) => repo.listDeliveries(tx, id, before, limit));
      return { deliveries: page.items.map(toDeliveryView), nextCursor: page.nextCursor };
    });
  }

  /** Sends a delivery again from now (with the same webhook-id), whatever became of it; its attempts are counted afresh. */
  async retry(who: Manager, id: string, deliveryId: string, ctx: CallContext): Promise<DeliveryView> {
    return this.scoped(who, async (tx) => {
      const endpoint = await repo.findEndpoint(tx, who, id);
      if (!endpoint) throw new AppError('WEBHOOK_NOT_FOUND');
      if (endpoint.status === 'disabled') throw new AppError('WEBHOOK_DISABLED');
      const row = await repo.rearmDelivery(tx, id, deliveryId, this.clock.now());
      if (!row) throw new AppError('WEBHOOK_DELIVERY_NOT_FOUND');
      await this.audit.record(tx, {
        tenantId: who.tenantId ?? PLATFORM_TENANT_ID, actor: who.actor, action: 'webhook.retry', target: { type: 'webhook_delivery', id: deliveryId },
        data: { webhookId: id, eventId: row.eventId }, requestId: ctx.requestId,
      });
      return toDeliveryView(row);
    });
  }

  /** A tenant's endpoints in its own transaction (row-level security); the operators' in the system scope. */
  private scoped<T>(who: Manager, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return who.tenantId === null ? inSystem(this.db, fn) : inTenant(this.db, who.tenantId, fn);
  }
}

const iso = (d: Date | null) => d?.toISOString() ?? null;
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export function toEndpointView(row: repo.EndpointRow): EndpointView {
  return {
    id: row.id, tenantId: row.ownerTenantId, url: row.url, events: row.events, description: row.description, status: row.status,
    previousSecretExpiresAt: iso(row.previousSecretExpiresAt), failingSince: iso(row.failingSince), disabledAt: iso(row.disabledAt), disabledReason: row.disabledReason, createdAt: row.createdAt.toISOString(),
  };
}

function toDeliveryView(row: repo.DeliveryRow): DeliveryView {
  return {
    id: row.id, endpointId: row.endpointId, eventId: row.eventId, eventType: row.eventType, status: row.status, attempts: row.attempts,
    nextAttemptAt: iso(row.nextAttemptAt), lastAttemptAt: iso(row.lastAttemptAt), responseStatus: row.responseStatus,
    lastError: row.lastError, createdAt: row.createdAt.toISOString(),
  };
}
