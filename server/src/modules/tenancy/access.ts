import type { Db, Executor } from '../../db/client.js';
import { inSystem, inTenant } from '../../db/scope.js';
import { TtlCache } from '../../lib/cache.js';
import type { Change } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import type { Principal, TenantAccess } from '../../lib/principal.js';
import { err, ok, type Result } from '../../lib/result.js';
import { paymentRequired, type BillingService, type SubscriptionStanding } from '../billing/index.js';
import * as repo from './repo.js';
import type { Role, TenantStatus } from './tables.js';

/** Why a principal may not act in a tenant. Every credential type gets the same codes. */
export type TenantDenial =
  | 'TENANT_NOT_FOUND' | 'TENANT_SUSPENDED' | 'TENANT_CLOSED' | 'PAYMENT_REQUIRED' | 'USER_DEACTIVATED'
  | 'ON_BEHALF_OF_REQUIRED' | 'ON_BEHALF_OF_NOT_MEMBER';

export interface TenantState {
  status: TenantStatus;
  plan: string | null;
  subscription: SubscriptionStanding | null;
  /** tenants.generation when this was read (migration 0009). */
  generation: number;
}

export interface UserState {
  status: 'active' | 'deactivated'; isOperator: boolean; personalTenantId: string | null; sessionsValidAfter: Date | null;
  /** users.generation when this was read. */
  generation: number;
}

/** A member's role (null: not a member) and the tenant's generation it was read at. */
interface RoleState { role: Role | null; generation: number }

/**
 * The generations a check's cached state was read at (migration 0009): the oldest of the
 * tenant's parts, and the acting user's. The decision statement compares them with the
 * rows: a stamp that moved since means the check may have used stale state.
 */
export interface Stamp { tenant: number; user: number | null }

/**
 * A check's answer and the stamp of the state it was made on, with the plan that state
 * names (its subscription's; null: no subscription, or no tenant): a refusal for the
 * tenant's standing still says the tenant's plan, and costs no read to say it.
 */
export interface StampedCheck { checked: Result<TenantAccess, TenantDenial | 'UNAUTHENTICATED'>; stamp: Stamp; plan: string | null }

/**
 * Whether a user's access token was signed out: issued at or before the instant a
 * password reset recorded (users.sessions_valid_after). Tokens carry their issue time to
 * the millisecond; one issued in the reset's very millisecond is refused, since a sign-in
 * with the new password can only come after the reset commits. A token of an older
 * release carries whole seconds, so within the reset's second it is refused even if it
 * came after: refusing is the safe side. Only Tollgate's own access tokens carry an issue
 * time; keys and providers' tokens are revoked their own way. tollgate_decide (migration
 * 0008) applies the same rule.
 */
export function sessionEnded(principal: Principal, sessionsValidAfter: Date | null): boolean {
  if (principal.type !== 'user' || principal.issuedAt === undefined || sessionsValidAfter === null) return false;
  return Math.round(principal.issuedAt * 1000) <= sessionsValidAfter.getTime();
}

/** sessionEnded as an error, for the callers that throw their refusals. */
export function assertSessionLive(principal: Principal, sessionsValidAfter: Date | null): void {
  if (sessionEnded(principal, sessionsValidAfter)) throw new AppError('UNAUTHENTICATED', 'the session was signed out');
}

export interface AccessCheckOptions {
  cacheTtlMs: number;
  pastDueGraceSeconds: number;
}

/**
 * What a check asks besides membership: `whileUnpaid` serves a tenant that must pay (its
 * billing routes); `anyStanding` serves a tenant whatever its standing — closing a run it
 * was already granted (a settle must charge the work done even if the trial ended, the
 * tenant was suspended or cancelled meanwhile; refused, the run would expire uncharged).
 */
export interface TenantCheckOptions { whileUnpaid?: boolean; anyStanding?: boolean }

/** Refusals made by the tenant's standing (not the principal's): the ones a payment or a reactivation lifts. */
const STANDING_DENIALS: ReadonlySet<string> = new Set(['TENANT_SUSPENDED', 'TENANT_CLOSED', 'PAYMENT_REQUIRED']);

/**
 * The one place that decides whether a principal may act in a tenant, for every
 * credential type: tenant visible to the principal, acting user active and a member,
 * tenant active, subscription in good standing. Denials are values so the decision
 * endpoint can answer them as `allowed: false`; HTTP routes throw them.
 *
 * The state it reads (tenant, membership, user) is cached in memory and dropped on
 * every change announced through the ChangeFeed; the TTL is only a backstop.
 */
export class AccessCheck {
  private readonly tenants: TtlCache<string, TenantState>;
  private readonly roles: TtlCache<string, RoleState>;
  private readonly users: TtlCache<string, UserState>;

  constructor(private readonly db: Db, private readonly clock: Clock, private readonly billing: BillingService, private readonly options: AccessCheckOptions) {
    const cache = { ttlMs: options.cacheTtlMs, maxEntries: 50_000, now: () => clock.now().getTime(), refreshAhead: true };
    this.tenants = new TtlCache(cache);
    this.roles = new TtlCache(cache);
    this.users = new TtlCache(cache);
  }

  /**
   * The check on cached state, for the routes. A refusal is never answered from the cache
   * alone: the tenant is read again first, so a payment or a reactivation that landed a
   * moment ago in another process lifts it on this very request. (The decision needs no
   * such read: its statement checks the stamp of the state it decided on.)
   */
  async check(principal: Principal, tenantId: string, options: TenantCheckOptions = {}): Promise<Result<TenantAccess, TenantDenial | 'UNAUTHENTICATED'>> {
    const first = (await this.checkStamped(principal, tenantId, options)).checked;
    if (first.ok || !STANDING_DENIALS.has(first.error)) return first;
    this.tenants.delete(tenantId);
    return (await this.checkStamped(principal, tenantId, options)).checked;
  }

  /**
   * The check on cached state, with the stamp of that state. A key's own generation
   * (the tenant's, when its row was read: apikeys' resolver) counts among the tenant's.
   */
  async checkStamped(principal: Principal, tenantId: string, options: TenantCheckOptions = {}): Promise<StampedCheck> {
    let userId: string | null = null;
    const stamp: Stamp = { tenant: Number.MAX_SAFE_INTEGER, user: null };
    let plan: string | null = null;
    const answer = (checked: StampedCheck['checked']): StampedCheck => ({ checked, stamp, plan });
    if (principal.type === 'user') userId = principal.userId;
    else if (principal.type === 'api_key' && principal.tenantId !== tenantId) return answer(err('TENANT_NOT_FOUND'));
    else if (principal.type === 'service') {
      if (principal.onBehalfOf?.tenantId !== tenantId) return answer(err('ON_BEHALF_OF_REQUIRED'));
      userId = principal.onBehalfOf.userId;
    }
    if (principal.type === 'api_key' && principal.generation !== undefined) stamp.tenant = principal.generation;
    const tenant = await this.tenant(tenantId);
    if (!tenant) return answer(err('TENANT_NOT_FOUND'));
    stamp.tenant = Math.min(stamp.tenant, tenant.generation);
    plan = tenant.plan;
    let role: Role | null = null;
    if (userId) {
      const found = await this.role(tenantId, userId);
      const absent = principal.type === 'service' ? 'ON_BEHALF_OF_NOT_MEMBER' : 'TENANT_NOT_FOUND';
      if (found) stamp.tenant = Math.min(stamp.tenant, found.generation);
      if (!found?.role) return answer(err(absent));
      const user = await this.user(userId);
      if (user) stamp.user = user.generation;
      if (!user) return answer(err(absent));
      if (user.status !== 'active') return answer(err('USER_DEACTIVATED'));
      if (sessionEnded(principal, user.sessionsValidAfter)) return answer(err('UNAUTHENTICATED'));
      role = found.role;
    }
    const standing = this.standing(tenant, options);
    return answer(standing ? err(standing) : ok({ tenantId, role, userId, principal }));
  }

  /**
   * The same rules on state read now in the caller's transaction, bypassing the caches:
   * the decision calls it so a suspension, role change or removal announced a moment
   * ago in another process cannot slip through on a stale cache entry.
   */
  async recheck(tx: Executor, access: TenantAccess, options: TenantCheckOptions = {}): Promise<Result<TenantAccess, TenantDenial | 'UNAUTHENTICATED'>> {
    const tenant = await readTenantState(tx, this.billing, access.tenantId);
    if (!tenant) return err('TENANT_NOT_FOUND');
    let role = access.role;
    if (access.userId) {
      const absent = access.principal.type === 'service' ? 'ON_BEHALF_OF_NOT_MEMBER' : 'TENANT_NOT_FOUND';
      const membership = await repo.findMembership(tx, access.tenantId, access.userId);
      const user = await repo.findUserById(tx, access.userId);
      if (!membership || !user) return err(absent);
      if (user.status !== 'active') return err('USER_DEACTIVATED');
      if (sessionEnded(access.principal, user.sessionsValidAfter)) return err('UNAUTHENTICATED');
      role = membership.role;
    }
    const standing = this.standing(tenant, options);
    return standing ? err(standing) : ok({ ...access, role });
  }

  private standing(tenant: TenantState, options: TenantCheckOptions): TenantDenial | null {
    if (options.anyStanding) return null;
    if (tenant.status === 'suspended') return 'TENANT_SUSPENDED';
    if (tenant.status === 'closed') return 'TENANT_CLOSED';
    if (options.whileUnpaid) return null;
    return paymentRequired(tenant.subscription, this.clock.now().getTime(), this.options.pastDueGraceSeconds) ? 'PAYMENT_REQUIRED' : null;
  }

  /** The user-status rule, shared by credential resolution and the tenant check. */
  async checkUser(userId: string): Promise<Result<UserState, 'UNKNOWN_USER' | 'USER_DEACTIVATED'>> {
    const user = await this.user(userId);
    if (!user) return err('UNKNOWN_USER');
    return user.status === 'active' ? ok(user) : err('USER_DEACTIVATED');
  }

  tenant(tenantId: string): Promise<TenantState | undefined> {
    return this.tenants.load(tenantId, () => inTenant(this.db, tenantId, (tx) => readTenantState(tx, this.billing, tenantId)));
  }

  /** The member's role (null: no member), with the tenant's generation; undefined without the tenant. */
  role(tenantId: string, userId: string): Promise<RoleState | undefined> {
    return this.roles.load(`${tenantId}:${userId}`, () => inTenant(this.db, tenantId, (tx) => repo.findRoleStamped(tx, tenantId, userId)));
  }

  user(userId: string): Promise<UserState | undefined> {
    return this.users.load(userId, () => inSystem(this.db, async (tx) => {
      const row = await repo.findUserById(tx, userId);
      return row && {
        status: row.status, isOperator: row.isOperator, personalTenantId: row.personalTenantId, sessionsValidAfter: row.sessionsValidAfter,
        generation: row.generation,
      };
    }));
  }

  /**
   * Drops what this process holds of a tenant and of a user, when the database said it is
   * stale (the decision's stamps): the next check reads them again.
   */
  forgetStale(tenantId: string, userId: string | null): void {
    this.tenants.delete(tenantId);
    this.roles.deleteWhere((_role, key) => key.startsWith(`${tenantId}:`));
    if (userId) this.users.delete(userId);
  }

  forget(change: Change): void {
    switch (change.kind) {
      case 'tenant': return this.tenants.delete(change.id);
      case 'user': return this.users.delete(change.id);
      case 'member': return this.roles.delete(`${change.tenantId}:${change.userId}`);
      case 'all':
        this.tenants.clear();
        this.roles.clear();
        this.users.clear();
        return;
      default: return;
    }
  }
}

/** The tenant row (its generation with it) before the subscription: what follows is as new as the stamp, or newer. */
async function readTenantState(tx: Executor, billing: BillingService, tenantId: string): Promise<TenantState | undefined> {
  const row = await repo.findTenant(tx, tenantId);
  if (!row) return undefined;
  const sub = await billing.get(tx, tenantId);
  return {
    status: row.status,
    plan: sub?.plan ?? null,
    subscription: sub ? { status: sub.status, pastDueSince: epoch(sub.pastDueSince), trialEndsAt: epoch(sub.trialEndsAt) } : null,
    generation: row.generation,
  };
}

function epoch(iso: string | null): number | null {
  return iso === null ? null : Date.parse(iso);
}
