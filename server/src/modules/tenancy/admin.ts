import type { Db, Executor } from '../../db/client.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { CallContext } from '../../lib/principal.js';
import { PLATFORM_TENANT_ID, type AuditService } from '../audit/index.js';
import type { BillingService, PaymentMethod, SubscriptionStatus } from '../billing/index.js';
import type { PlansService } from '../plans/index.js';
import * as repo from './repo.js';
import { toUserView, type TenancyService, type TenantView, type UserView } from './service.js';
import type { Role, TenantStatus } from './tables.js';

export interface TenantPatch {
  status?: TenantStatus | undefined;
  plan?: string | undefined;
  /** Per-meter limit overrides; null removes one. */
  limits?: Record<string, number | null> | undefined;
  /** Overrides the plan's enterprise flag; null removes the override. */
  enterprise?: boolean | null | undefined;
}

export interface TenantSearch {
  query?: string | undefined;
  status?: TenantStatus | undefined;
  subscriptionStatus?: SubscriptionStatus | undefined;
  paymentMethod?: PaymentMethod | undefined;
  cursor?: string | undefined;
  limit: number;
}

export interface TenantUser { id: string; email: string; name: string | null; role: Role; status: string; lastSignInAt: string | null; joinedAt: string }

/** Where overrides live (the entitlements module, wired by deps.ts); returns what changed, for the audit entry. */
export interface OverrideStore {
  applyOverrides(tx: Executor, tenantId: string, patch: Pick<TenantPatch, 'limits' | 'enterprise'>): Promise<Record<string, { from: unknown; to: unknown }>>;
}

/** Operator actions on tenants and users. Every change is audited in its own transaction. */
export class TenancyAdminService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly billing: BillingService,
    private readonly plans: PlansService,
    private readonly tenancy: TenancyService,
    private readonly overrides: OverrideStore,
    private readonly changed: (kind: 'tenant' | 'user', id: string) => Promise<void>,
    /** Told, in its transaction, that an operator suspended a tenant (the tenant.suspended event, modules/webhooks). */
    private readonly suspended: (tx: Executor, tenantId: string, data: Record<string, unknown>) => Promise<void> = async () => undefined,
    /** Told, in its transaction, that an operator changed the tenant's limits or plan (limit.threshold for where its counts stand, modules/metering). */
    private readonly limitsChanged: (tx: Executor, tenantId: string) => Promise<void> = async () => undefined,
  ) {}

  async search(q: TenantSearch): Promise<{ tenants: TenantView[]; nextCursor: string | null }> {
    const billed = this.billing.tenantsWhere(repo.TENANT_ID, { status: q.subscriptionStatus, paymentMethod: q.paymentMethod });
    return inSystem(this.db, async (tx) => {
      const rows = await repo.searchTenants(tx, { query: q.query, status: q.status, afterId: q.cursor, limit: q.limit + 1 }, billed);
      const page = rows.slice(0, q.limit);
      const tenants = [];
      for (const row of page) tenants.push(await this.tenancy.getTenant(row.id, tx));
      return { tenants, nextCursor: rows.length > q.limit ? page.at(-1)!.id : null };
    });
  }

  async patchTenant(operatorId: string, tenantId: string, patch: TenantPatch, ctx: CallContext): Promise<TenantView> {
    if (patch.plan !== undefined) this.plans.require(patch.plan);
    const view = await inTenant(this.db, tenantId, async (tx) => {
      const before = await repo.findTenant(tx, tenantId);
      if (!before) throw new AppError('TENANT_NOT_FOUND');
      const now = this.clock.now();
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      // A change is what the locked row says it is: of operators racing to the same patch,
      // one changes it, and only that one is audited and announced.
      const previous = patch.status === undefined ? undefined : await repo.changeTenantStatus(tx, tenantId, patch.status, now);
      if (previous !== undefined) {
        changes.status = { from: previous, to: patch.status };
        if (patch.status === 'suspended') await this.suspended(tx, tenantId, { reason: 'operator', previousStatus: previous });
      }
      const overrides = patch.limits !== undefined || patch.enterprise !== undefined;
      if (patch.plan !== undefined) {
        // What the locked subscription was on: another operator's plan may have come first.
        // With overrides in the same patch, metering is told once both are written (below).
        const changed = await this.billing.setPlan(tx, tenantId, patch.plan, { type: 'operator', id: operatorId }, ctx.requestId, overrides);
        if (changed) changes.plan = { from: changed.before.plan, to: changed.after.plan };
      }
      if (overrides) {
        // The overrides are read, merged and written whole: one operator's at a time, or one
        // change is lost. The tenant's row is what every change of its entitlements locks
        // (its generation, db/functions/stamps.sql), so holding it first adds no new order.
        await repo.holdTenant(tx, tenantId);
        Object.assign(changes, await this.overrides.applyOverrides(tx, tenantId, { limits: patch.limits, enterprise: patch.enterprise }));
      }
      // A plan changed alone has announced its own (billing's lifecycle); with overrides, both are this route's.
      if (Object.keys(changes).some((k) => k.startsWith('limits') || (overrides && k === 'plan'))) await this.limitsChanged(tx, tenantId);
      if (Object.keys(changes).length > 0) {
        await this.audit.record(tx, {
          tenantId, actor: { type: 'operator', id: operatorId }, action: 'tenant.update',
          target: { type: 'tenant', id: tenantId }, data: changes, requestId: ctx.requestId,
        });
      }
      return this.tenancy.getTenant(tenantId, tx);
    });
    await this.changed('tenant', tenantId);
    return view;
  }

  /** A tenant's users with their role, account status and last sign-in (the tenant's existence is checked by the route). */
  async users(tenantId: string): Promise<TenantUser[]> {
    return inTenant(this.db, tenantId, async (tx) => (await repo.listMembers(tx, tenantId)).map((m) => ({
      id: m.userId, email: m.email, name: m.name, role: m.role, status: m.status,
      lastSignInAt: m.lastSignInAt?.toISOString() ?? null, joinedAt: m.createdAt.toISOString(),
    })));
  }

  async setUserStatus(operatorId: string, userId: string, status: 'active' | 'deactivated', ctx: CallContext): Promise<UserView> {
    const view = await inSystem(this.db, async (tx) => {
      // The platform keeps an operator: the last active one deactivated (by itself, or two
      // deactivating each other at once) locks everyone out of /v1/admin. An operator's
      // deactivation locks every active operator first, in one order, the user among them:
      // locking the user first, two operators deactivating each other each held the other's
      // row and waited for its own (a deadlock, 503 DATABASE_BUSY to one of them).
      const deactivatesOperator = status === 'deactivated' && (await repo.findUserById(tx, userId))?.isOperator === true;
      const active = deactivatesOperator ? await repo.lockActiveOperators(tx) : [];
      // Locked: of two operators racing, the second sees the first's status, so the audit
      // entries always add up to the status the user has.
      const before = await repo.findUserById(tx, userId, true);
      if (!before) throw new AppError('USER_NOT_FOUND');
      if (before.status === status) return toUserView(before);
      // The second of two racing operators counts after the first's change.
      if (deactivatesOperator && active.filter((id) => id !== userId).length === 0) throw new AppError('LAST_OPERATOR');
      const after = await repo.updateUser(tx, userId, { status, updatedAt: this.clock.now() });
      // Deactivation signs the user out everywhere: reactivated, they sign in again — the
      // sessions of before (perhaps an intruder's, the reason for it) do not come back.
      if (status === 'deactivated') await this.tenancy.endSessions(tx, userId);
      // In the platform's log always (a user need not have a personal tenant, and it locks
      // them out of every team), and in their personal tenant's as before.
      for (const tenantId of [PLATFORM_TENANT_ID, ...(before.personalTenantId ? [before.personalTenantId] : [])]) {
        await this.audit.record(tx, {
          tenantId, actor: { type: 'operator', id: operatorId }, action: status === 'active' ? 'user.reactivate' : 'user.deactivate',
          target: { type: 'user', id: userId }, data: { email: before.email }, requestId: ctx.requestId,
        });
      }
      return toUserView(after!);
    });
    await this.changed('user', userId);
    return view;
  }
}
