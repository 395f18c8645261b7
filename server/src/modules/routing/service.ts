import { randomBytes } from 'node:crypto';
import type { PlatformRouteConfig } from '../../config-schema.js';
import type { Db, Executor, Tx } from '../../db/client.js';
import { lockKey } from '../../db/locks.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { ChangeFeed } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { CallContext } from '../../lib/principal.js';
import type { Sealer } from '../../lib/secrets.js';
import type { Actor, AuditService } from '../audit/index.js';
import type { BillingService } from '../billing/index.js';
import type { PlansService } from '../plans/index.js';
import * as repo from './repo.js';
import type { Route, RouteInput, RouteView } from './schemas.js';
import { selectRoute, type RouteSummary } from './select.js';
import { newExternalId, stsExternalId } from './external-id.js';
import { checkBaseUrl, lastFour } from './validate.js';

export interface RoutingParts {
  db: Db;
  clock: Clock;
  audit: AuditService;
  plans: PlansService;
  billing: BillingService;
  changes: ChangeFeed;
  /** Seals the routes' secrets (purpose "provider-routes"). */
  sealer: Sealer;
  /** The route of a call no route of the tenant takes, where the plan names none (config routing.platformRoute). */
  platformRoute: PlatformRouteConfig;
  /** Routes a tenant may have (config routing.maxRoutesPerTenant). */
  maxRoutesPerTenant: number;
}

/** Told of every change to a tenant's route, after its commit (the credentials cache drops it). */
export type RouteChangeListener = (tenantId: string, name: string) => void;

/**
 * Tenants' own provider accounts. Managed by the tenant's owners and admins (and
 * operators), where the plan allows own providers; every change is audited in its
 * transaction and bumps the tenant's generation (db/functions/stamps.sql), so every
 * process's next decision reads the routes again. The secret is sealed before it is
 * written and opened only to hand a credential to the tenant's backend.
 */
export class RoutingService {
  private readonly listeners = new Set<RouteChangeListener>();

  constructor(private readonly p: RoutingParts) {}

  onChange(listener: RouteChangeListener): void {
    this.listeners.add(listener);
  }

  /** The tenant's routes, and the external ID its roles' trust policies name (made on the first read). */
  async list(tenantId: string): Promise<{ routes: RouteView[]; externalId: string }> {
    return inTenant(this.p.db, tenantId, async (tx) => ({
      routes: (await repo.listRoutes(tx, tenantId)).map(toView),
      externalId: await this.externalIdOf(tx, tenantId),
    }));
  }

  /** Creates or replaces a route (a PUT: the whole route, its secret included). */
  async put(tenantId: string, name: string, input: RouteInput, actor: Actor, ctx: CallContext = {}): Promise<{ route: RouteView; created: boolean }> {
    const baseUrl = input.provider === 'bedrock' || input.baseUrl === undefined ? null : checkBaseUrl(input.baseUrl);
    const secret = input.provider === 'bedrock' ? input.externalId ?? '' : input.apiKey;
    const now = this.p.clock.now();
    const result = await this.commit(tenantId, name, async (tx) => {
      if (!(await this.planAllows(tx, tenantId))) throw new AppError('NOT_IN_PLAN', 'the tenant\'s plan does not allow its own provider accounts');
      // A role is one tenant's: the role's trust policy is its account's word for one tenant (docs/routing.md).
      if (input.provider === 'bedrock' && await repo.roleTakenElsewhere(tx, tenantId, input.roleArn)) throw new AppError('ROLE_ARN_TAKEN');
      const before = await repo.findRoute(tx, tenantId, name);
      // A new route past the cap is refused before anything is written: every decision of the
      // tenant reads all its routes (its snapshot, select.ts). Counted under a lock of the
      // tenant's routes, after the name's: creates of different names queue here, so that
      // they cannot pass the cap together.
      if (!before) {
        await lockKey(tx, tenantId, 'routes');
        if (await repo.countRoutes(tx, tenantId) >= this.p.maxRoutesPerTenant) throw new AppError('ROUTE_LIMIT_REACHED');
      }
      // Made with the first Bedrock route if not read before: usable() finds it for every one.
      if (input.provider === 'bedrock') await this.externalIdOf(tx, tenantId);
      const row: repo.RouteRow = {
        tenantId, name, provider: input.provider,
        region: input.provider === 'bedrock' ? input.region : null,
        roleArn: input.provider === 'bedrock' ? input.roleArn : null,
        baseUrl, models: [...new Set(input.models ?? ['*'])], enabled: input.enabled ?? true,
        secretSealed: secret === '' ? null : this.p.sealer.seal(secret, sealContext(tenantId, name)), secretLastFour: lastFour(secret), legacyExternalId: false,
        revision: randomBytes(12).toString('base64url'), version: (before?.version ?? 0) + 1, createdAt: before?.createdAt ?? now, updatedAt: now,
      };
      if (before) await repo.updateRoute(tx, row);
      else await repo.insertRoute(tx, row);
      const secretChanged = before ? this.sealedOther(before, secret) : true;
      await this.p.audit.record(tx, {
        tenantId, actor, action: before ? 'route.update' : 'route.create', target: { type: 'route', id: name },
        data: { ...auditView(row), secretChanged }, requestId: ctx.requestId,
      });
      return { route: toView(row), created: !before };
    });
    return result;
  }

  async remove(tenantId: string, name: string, actor: Actor, ctx: CallContext = {}): Promise<void> {
    await this.commit(tenantId, name, async (tx) => {
      const before = await repo.findRoute(tx, tenantId, name);
      if (!before || !(await repo.deleteRoute(tx, tenantId, name))) throw new AppError('ROUTE_NOT_FOUND');
      await this.p.audit.record(tx, {
        tenantId, actor, action: 'route.delete', target: { type: 'route', id: name }, data: auditView(before), requestId: ctx.requestId,
      });
    });
  }

  /** What the decision keeps of the tenant's routes with its snapshot (gate/snapshot.ts), read in the snapshot's transaction. */
  async summaries(tx: Executor, tenantId: string): Promise<RouteSummary[]> {
    return (await repo.listRoutes(tx, tenantId)).map((r) => ({ name: r.name, provider: r.provider, region: r.region, models: r.models, enabled: r.enabled, revision: r.revision }));
  }

  /** The route of a call of a plan, the one selection (select.ts) with this config's fallback. */
  select(planId: string | null, routes: readonly RouteSummary[], model: string | undefined): Route {
    const plan = planId === null ? undefined : this.p.plans.get(planId);
    return selectRoute({ byoProvider: plan?.byoProvider ?? false, platformRoute: plan?.platformRoute }, this.p.platformRoute, routes, model);
  }

  /**
   * A route with its secret opened, if it exists, is enabled and the tenant's plan still
   * allows own providers; for a Bedrock route, the ExternalId STS gets (stsExternalId).
   */
  async usable(tenantId: string, name: string): Promise<{ row: repo.RouteRow; secret: string; externalId: string | null } | undefined> {
    return inTenant(this.p.db, tenantId, async (tx) => {
      const row = await repo.findRoute(tx, tenantId, name);
      if (!row || !row.enabled || !(await this.planAllows(tx, tenantId))) return undefined;
      const secret = this.opened(row);
      const externalId = row.provider === 'bedrock' ? stsExternalId(await this.externalIdOf(tx, tenantId), secret, row.legacyExternalId) : null;
      return { row, secret, externalId };
    });
  }

  /** The tenant's external ID (the platform's, external-id.ts), made on first need and never changed. */
  private async externalIdOf(tx: Executor, tenantId: string): Promise<string> {
    return repo.externalIdOf(tx, tenantId, () => ({ externalId: newExternalId(), createdAt: this.p.clock.now() }));
  }

  /**
   * Seals every route's secret still kept under another key than the current master
   * secret's (`tollgate secrets reseal`); `inTx` writes the audit entry in the same
   * transaction. The routes do not change (no version, no generation moves).
   */
  async reseal(inTx?: (tx: Tx, count: number) => Promise<void>): Promise<number> {
    return inSystem(this.p.db, async (tx) => {
      let count = 0;
      for (const row of await repo.allRoutes(tx)) {
        if (row.secretSealed === null) continue;
        const resealed = this.p.sealer.resealed(row.secretSealed, sealContext(row.tenantId, row.name));
        if (resealed === null) continue;
        await repo.setSealed(tx, row.tenantId, row.name, resealed);
        count++;
      }
      if (inTx) await inTx(tx, count);
      return count;
    });
  }

  /** Whether a stored route's secret differs from `secret` (one that no configured key opens counts as different). */
  private sealedOther(row: repo.RouteRow, secret: string): boolean {
    try {
      return this.opened(row) !== secret;
    } catch {
      return true;
    }
  }

  /** A route's secret opened; none ('') for a Bedrock route whose PUT gave no external ID. */
  private opened(row: repo.RouteRow): string {
    return row.secretSealed === null ? '' : this.p.sealer.unseal(row.secretSealed, sealContext(row.tenantId, row.name));
  }

  private async planAllows(tx: Executor, tenantId: string): Promise<boolean> {
    const subscription = await this.p.billing.get(tx, tenantId);
    return this.p.plans.ofSubscription(subscription?.plan).byoProvider;
  }

  /**
   * A change of a route: in the tenant's transaction, announced to every process, then told
   * to this one's listeners. Changes of one route name queue on its lock before they read:
   * a row lock (FOR UPDATE) holds nothing while the route does not exist yet, and two PUTs
   * creating it would both insert, the second meeting the primary key.
   */
  private async commit<T>(tenantId: string, name: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    const change = { kind: 'tenant', id: tenantId } as const;
    try {
      return await this.p.changes.commit(change, () => inTenant(this.p.db, tenantId, async (tx) => {
        await lockKey(tx, tenantId, `route:${name}`);
        const result = await work(tx);
        await this.p.changes.announce(tx, change);
        return result;
      }));
    } finally {
      for (const listener of this.listeners) listener(tenantId, name);
    }
  }
}

/** What a sealed secret is bound to: its tenant and route (moved to another row, it does not open). */
function sealContext(tenantId: string, name: string): string {
  return `route:${tenantId}:${name}`;
}

function toView(row: repo.RouteRow): RouteView {
  return {
    name: row.name, provider: row.provider, region: row.region, models: row.models, enabled: row.enabled, roleArn: row.roleArn,
    baseUrl: row.baseUrl, secretLastFour: row.secretLastFour, legacyExternalId: row.legacyExternalId,
    createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString(),
  };
}

/** A route in an audit entry: what it is, never its secret. */
function auditView(row: repo.RouteRow): Record<string, unknown> {
  return {
    provider: row.provider, region: row.region, roleArn: row.roleArn, baseUrl: row.baseUrl, models: row.models, enabled: row.enabled,
    secretLastFour: row.secretLastFour, legacyExternalId: row.legacyExternalId, version: row.version,
  };
}
