import type { Db, Executor } from '../../db/client.js';
import { isUniqueViolation } from '../../db/errors.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { ChangeFeed } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { CallContext, Principal, TenantAccess, UserPrincipal } from '../../lib/principal.js';
import { err, type Result } from '../../lib/result.js';
import { PLATFORM_TENANT_ID, type Actor, type AuditService } from '../audit/index.js';
import type { BillingService, Subscription } from '../billing/index.js';
import type { Plan, PlansService } from '../plans/index.js';
import { assertSessionLive, type AccessCheck, type StampedCheck, type TenantCheckOptions, type TenantDenial, type UserState } from './access.js';
import * as repo from './repo.js';
import { tenantIdOf } from './tenant-of.js';
import type { Role, TenantStatus } from './tables.js';

export interface UserView { id: string; email: string; name: string | null; status: string; isOperator: boolean; personalTenantId: string | null; createdAt: string }
export interface TenantView {
  id: string; name: string; kind: 'personal' | 'team'; status: TenantStatus; plan: string; enterprise: boolean;
  subscription: Subscription | null; createdAt: string;
}
export interface MemberView { userId: string; email: string; name: string | null; role: Role; joinedAt: string }

/** Which roles may do what: admins manage members but cannot create or touch owners. */
const RANK: Record<Role, number> = { member: 0, admin: 1, owner: 2 };
/** The key scope that acts with a role (effectiveRole). */
const SCOPE_FOR = { member: 'read', admin: 'manage' } as const;
export type RoleNeed = 'member' | 'admin' | 'owner';

/** What other modules add to tenancy; deps.ts wires them so tenancy never imports those modules. */
export interface TenancyExtension {
  /** Runs inside the transaction that creates a tenant, after its subscription (e.g. the first credit grant). */
  tenantCreated?(tx: Executor, tenantId: string): Promise<void>;
  /** An operator's override of the plan's enterprise flag, or null. */
  enterpriseOverride?(tx: Executor, tenantId: string): Promise<boolean | null>;
}

export interface NewAccount {
  email: string; name?: string | null | undefined; passwordHash: string | null;
  /** Set only when the caller has proof the user controls the email (an identity provider's verified claim). */
  emailVerified?: boolean | undefined;
}

/** What tenancy needs of the modules above it, handed in by deps.ts so that tenancy never imports them. */
export interface TenancyHooks extends TenancyExtension {
  /** Whether the key behind a principal is still valid, read in the caller's transaction (apikeys). */
  keyStillValid(tx: Executor, principal: Principal): Promise<boolean>;
}

export class TenancyService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly billing: BillingService,
    private readonly plans: PlansService,
    private readonly accessCheck: AccessCheck,
    private readonly changes: ChangeFeed,
    private readonly hooks: TenancyHooks,
  ) {}

  /**
   * User, personal tenant, owner membership, subscription on the default plan and the
   * audit entry, inside the caller's transaction: a failure at any step leaves nothing.
   */
  async createAccount(tx: Executor, input: NewAccount, ctx: CallContext): Promise<{ user: UserView; tenant: TenantView }> {
    if (await repo.findUserByEmail(tx, input.email)) throw new AppError('EMAIL_TAKEN');
    const now = this.clock.now();
    const userId = newId('usr', now.getTime());
    const tenantId = newId('tnt', now.getTime());
    await repo.insertUser(tx, {
      id: userId, email: input.email, name: input.name ?? null, passwordHash: input.passwordHash,
      isOperator: false, status: 'active', personalTenantId: tenantId, sessionsValidAfter: null, lastSignInAt: null,
      emailVerifiedAt: input.emailVerified ? now : null, createdAt: now, updatedAt: now,
    }).catch((error: unknown) => {
      if (isUniqueViolation(error)) throw new AppError('EMAIL_TAKEN');
      throw error;
    });
    const tenant = await this.insertTenantWithOwner(tx, { tenantId, userId, name: input.name || input.email, kind: 'personal' }, now);
    await this.audit.record(tx, {
      tenantId, actor: { type: 'user', id: userId }, action: 'user.signup',
      target: { type: 'user', id: userId }, data: { email: input.email }, requestId: ctx.requestId,
    });
    const user = await repo.findUserById(tx, userId);
    return { user: toUserView(user!), tenant };
  }

  async createTeamTenant(principal: UserPrincipal, name: string, ctx: CallContext): Promise<TenantView> {
    const userId = principal.userId;
    return inSystem(this.db, async (tx) => {
      await readActingUser(tx, principal);
      const now = this.clock.now();
      const tenantId = newId('tnt', now.getTime());
      const tenant = await this.insertTenantWithOwner(tx, { tenantId, userId, name, kind: 'team' }, now);
      await this.audit.record(tx, {
        tenantId, actor: { type: 'user', id: userId }, action: 'tenant.create',
        target: { type: 'tenant', id: tenantId }, data: { name }, requestId: ctx.requestId,
      });
      return tenant;
    });
  }

  private async insertTenantWithOwner(tx: Executor, t: { tenantId: string; userId: string; name: string; kind: 'personal' | 'team' }, now: Date): Promise<TenantView> {
    await repo.insertTenant(tx, { id: t.tenantId, name: t.name, kind: t.kind, status: 'active', createdAt: now, updatedAt: now });
    await repo.insertMembership(tx, { tenantId: t.tenantId, userId: t.userId, role: 'owner', createdAt: now, updatedAt: now });
    const plan = this.plans.defaultPlan();
    const subscription = await this.billing.createForTenant(tx, t.tenantId, plan.id);
    await this.hooks.tenantCreated?.(tx, t.tenantId);
    return {
      id: t.tenantId, name: t.name, kind: t.kind, status: 'active', plan: plan.id, enterprise: plan.enterprise,
      subscription, createdAt: now.toISOString(),
    };
  }

  /**
   * Tenant routes' guard: the shared tenant check (AccessCheck, the one place that
   * decides, for every credential type), then the role — read from the database, never
   * from a token — or, for an API key, its scope. A tenant the principal may not see
   * is the same 404 as a missing one.
   */
  async access(principal: Principal, tenantId: string, need: RoleNeed, options: TenantCheckOptions = {}): Promise<TenantAccess> {
    const access = await this.verified(principal, tenantId, options);
    const role = effectiveRole(access);
    if (role !== null && RANK[role] >= RANK[need]) return access;
    if (principal.type !== 'api_key') throw new AppError('FORBIDDEN', `this needs the ${need} role`);
    throw new AppError('INSUFFICIENT_SCOPE', need === 'owner' ? 'only an owner may do this; no key scope allows it' : `the key needs the ${SCOPE_FOR[need]} scope`);
  }

  /** The same check as a value, for callers that answer denials instead of throwing them (the decision). */
  checkTenant(principal: Principal, tenantId: string): Promise<Result<TenantAccess, TenantDenial | 'UNAUTHENTICATED'>> {
    return this.accessCheck.check(principal, tenantId);
  }

  /** The check with the stamp of the cached state it was made on (the decision's, see AccessCheck). */
  checkTenantStamped(principal: Principal, tenantId: string): Promise<StampedCheck> {
    return this.accessCheck.checkStamped(principal, tenantId);
  }

  /** Drops the cached state of a tenant and a user that the database found stale. */
  forgetStale(tenantId: string, userId: string | null): void {
    this.accessCheck.forgetStale(tenantId, userId);
  }

  /**
   * The same check on state read now in the caller's transaction (no cache): the key is
   * still valid, and tenant, membership and user still allow it. The decision's last word.
   */
  async recheckTenant(tx: Executor, access: TenantAccess, options: TenantCheckOptions = {}): Promise<Result<TenantAccess, TenantDenial | 'UNAUTHENTICATED'>> {
    if (!(await this.hooks.keyStillValid(tx, access.principal))) return err('UNAUTHENTICATED');
    return this.accessCheck.recheck(tx, access, options);
  }

  /**
   * The tenant check without a role requirement (for callers that gate by scope): the
   * cached check answers fast, then the database answers now, since the caches may lag
   * a change another process made a moment ago.
   */
  async verified(principal: Principal, tenantId: string, options: TenantCheckOptions = {}): Promise<TenantAccess> {
    const checked = await this.accessCheck.check(principal, tenantId, options);
    if (!checked.ok) throw new AppError(checked.error);
    const fresh = await inTenant(this.db, tenantId, (tx) => this.recheckTenant(tx, checked.value, options));
    if (!fresh.ok) throw new AppError(fresh.error);
    return fresh.value;
  }

  /**
   * The tenant's standing read now, for a platform service key that names the tenant
   * through an object of it and acts for no member (a decision's credentials): the key
   * still valid, the tenant neither suspended, closed nor unpaid — what every credential
   * path checks.
   */
  async verifiedStanding(principal: Principal, tenantId: string): Promise<TenantAccess> {
    const fresh = await inTenant(this.db, tenantId, (tx) => this.recheckTenant(tx, { tenantId, role: null, userId: null, principal }));
    if (!fresh.ok) throw new AppError(fresh.error);
    return fresh.value;
  }

  /** Whether a user may still act at all (cached; dropped when an operator changes their status or a password reset signs them out). */
  checkUser(userId: string): Promise<Result<UserState, 'UNKNOWN_USER' | 'USER_DEACTIVATED'>> {
    return this.accessCheck.checkUser(userId);
  }

  async getTenant(tenantId: string, db: Executor | null = null): Promise<TenantView> {
    const run = async (tx: Executor) => {
      const tenant = await repo.findTenant(tx, tenantId);
      if (!tenant) throw new AppError('TENANT_NOT_FOUND');
      const subscription = (await this.billing.get(tx, tenantId)) ?? null;
      const enterprise = (await this.hooks.enterpriseOverride?.(tx, tenantId)) ?? null;
      return this.toTenantView(tenant, subscription, enterprise);
    };
    return db ? run(db) : inTenant(this.db, tenantId, run);
  }

  private toTenantView(tenant: repo.TenantRow, subscription: Subscription | null, enterpriseOverride: boolean | null): TenantView {
    const plan: Plan | undefined = subscription ? this.plans.get(subscription.plan) : undefined;
    return {
      id: tenant.id, name: tenant.name, kind: tenant.kind, status: tenant.status,
      plan: subscription?.plan ?? this.plans.defaultPlan().id,
      enterprise: enterpriseOverride ?? plan?.enterprise ?? false,
      subscription, createdAt: tenant.createdAt.toISOString(),
    };
  }

  async me(principal: UserPrincipal): Promise<{ user: UserView; memberships: { tenantId: string; role: Role; tenantName: string; kind: string }[] }> {
    const userId = principal.userId;
    return inSystem(this.db, async (tx) => {
      const user = await readActingUser(tx, principal);
      const rows = await repo.listMembershipsOfUser(tx, userId);
      const memberships = [];
      for (const m of rows) {
        const tenant = await repo.findTenant(tx, m.tenantId);
        memberships.push({ tenantId: m.tenantId, role: m.role, tenantName: tenant?.name ?? '', kind: tenant?.kind ?? 'team' });
      }
      return { user: toUserView(user), memberships };
    });
  }

  async listMembers(access: TenantAccess): Promise<MemberView[]> {
    return inTenant(this.db, access.tenantId, async (tx) =>
      (await repo.listMembers(tx, access.tenantId)).map((m) => ({
        userId: m.userId, email: m.email, name: m.name, role: m.role, joinedAt: m.createdAt.toISOString(),
      })));
  }

  async changeRole(access: TenantAccess, userId: string, role: Role, ctx: CallContext): Promise<MemberView> {
    const change = { kind: 'member', tenantId: access.tenantId, userId } as const;
    return this.changes.commit(change, () => inTenant(this.db, access.tenantId, async (tx) => {
      const owners = await repo.lockOwners(tx, access.tenantId);
      const target = await repo.findMembership(tx, access.tenantId, userId);
      if (!target) throw new AppError('MEMBER_NOT_FOUND');
      this.assertMayManage(access, target.role, role);
      if (target.role === 'owner' && role !== 'owner' && owners.length <= 1) throw new AppError('LAST_OWNER');
      const now = this.clock.now();
      if (target.role !== role) {
        await repo.setMemberRole(tx, access.tenantId, userId, role, now);
        await this.changes.announce(tx, change);
        await this.audit.record(tx, {
          tenantId: access.tenantId, actor: actorOf(access), action: 'member.role_change',
          target: { type: 'user', id: userId }, data: { from: target.role, to: role }, requestId: ctx.requestId,
        });
      }
      const member = (await repo.listMembers(tx, access.tenantId)).find((m) => m.userId === userId)!;
      return { userId, email: member.email, name: member.name, role, joinedAt: member.createdAt.toISOString() };
    }));
  }

  async removeMember(access: TenantAccess, userId: string, ctx: CallContext): Promise<void> {
    const change = { kind: 'member', tenantId: access.tenantId, userId } as const;
    await this.changes.commit(change, () => inTenant(this.db, access.tenantId, async (tx) => {
      const owners = await repo.lockOwners(tx, access.tenantId);
      const target = await repo.findMembership(tx, access.tenantId, userId);
      if (!target) throw new AppError('MEMBER_NOT_FOUND');
      const leaving = access.userId === userId;
      if (!leaving) this.assertMayManage(access, target.role, target.role);
      if (target.role === 'owner' && owners.length <= 1) throw new AppError('LAST_OWNER');
      await repo.deleteMembership(tx, access.tenantId, userId);
      await this.changes.announce(tx, change);
      await this.audit.record(tx, {
        tenantId: access.tenantId, actor: actorOf(access), action: leaving ? 'member.leave' : 'member.remove',
        target: { type: 'user', id: userId }, data: { role: target.role }, requestId: ctx.requestId,
      });
    }));
  }

  private assertMayManage(access: TenantAccess, currentRole: Role, newRole: Role): void {
    const role = effectiveRole(access);
    if (!mayManage(role, currentRole, newRole)) throw new AppError(role === 'admin' ? 'ROLE_NOT_ALLOWED' : 'FORBIDDEN');
  }

  assertMayGrant(access: TenantAccess, role: Role): void {
    this.assertMayManage(access, 'member', role);
  }

  /** Where to tell a tenant's owners something (a webhook endpoint disabled): their active users' emails. */
  async ownerEmails(db: Executor, tenantId: string): Promise<string[]> {
    return (await repo.listMembers(db, tenantId)).filter((m) => m.role === 'owner' && m.status === 'active').map((m) => m.email);
  }

  async userEmail(db: Executor, userId: string): Promise<string | null> {
    return (await repo.findUserById(db, userId))?.email ?? null;
  }

  async findUserByEmail(db: Executor, email: string): Promise<repo.UserRow | undefined> {
    return repo.findUserByEmail(db, email);
  }

  /**
   * A password set with a reset token sent to the user's email (the token proves control
   * of the address too), audited in the user's personal tenant, where their other entries are.
   */
  async resetPassword(tx: Executor, userId: string, passwordHash: string): Promise<void> {
    const now = this.clock.now();
    const row = await repo.updateUser(tx, userId, { passwordHash, emailVerifiedAt: now, updatedAt: now });
    if (row?.personalTenantId) {
      await this.audit.record(tx, {
        tenantId: row.personalTenantId, actor: { type: 'user', id: userId }, action: 'user.password_change',
        target: { type: 'user', id: userId }, data: { source: 'password_reset' },
      });
    }
  }

  /**
   * When the user's sessions became valid (null: never reset) and whether the user may act
   * (false for none), holding the user's row until the transaction ends: a password reset
   * or a deactivation cannot commit in between.
   */
  async lockSessions(tx: Executor, userId: string): Promise<{ validAfter: Date | null; active: boolean }> {
    const row = await repo.lockUserSessions(tx, userId);
    return { validAfter: row?.sessionsValidAfter ?? null, active: row?.status === 'active' };
  }

  /** Signs out every access token issued so far (sessionEnded); inside changeUser(). */
  async endSessions(tx: Executor, userId: string): Promise<void> {
    const now = this.clock.now();
    await repo.updateUser(tx, userId, { sessionsValidAfter: now, updatedAt: now });
  }

  /**
   * Runs a transaction that changes what a user may do (password, sessions), announced
   * inside it: other processes forget the user's cached state as it commits, this one
   * at once.
   */
  changeUser<T>(userId: string, work: (tx: Executor) => Promise<T>): Promise<T> {
    const change = { kind: 'user', id: userId } as const;
    return this.changes.commit(change, () => inSystem(this.db, async (tx) => {
      const result = await work(tx);
      await this.changes.announce(tx, change);
      return result;
    }));
  }

  /** A new session began (a password sign-in, a signup): what operators see as the user's last sign-in. */
  async recordSignIn(tx: Executor, userId: string): Promise<void> {
    await repo.updateUser(tx, userId, { lastSignInAt: this.clock.now() });
  }

  /**
   * Makes a user an operator, audited platform-wide in the same transaction (GET
   * /v1/admin/audit). Operators are made outside any request (the CLI, the bootstrap
   * variables): `source` says which, the actor is the system.
   */
  async grantOperator(tx: Executor, user: { id: string; email: string }, source: string, created: boolean): Promise<void> {
    await repo.updateUser(tx, user.id, { isOperator: true, updatedAt: this.clock.now() });
    await this.audit.record(tx, {
      tenantId: PLATFORM_TENANT_ID, actor: { type: 'system', id: null }, action: 'operator.grant',
      target: { type: 'user', id: user.id }, data: { email: user.email, source, created },
    });
  }

  /** The tenant's plan as last read (cached): what picks a rate bucket before the decision reads the plan itself. */
  async cachedPlan(tenantId: string): Promise<string | null> {
    return (await this.accessCheck.tenant(tenantId))?.plan ?? null;
  }

  /** A user's personal tenant, from the cached user state (it never changes once created). */
  async personalTenantOf(userId: string): Promise<string | null> {
    return (await this.accessCheck.user(userId))?.personalTenantId ?? null;
  }

  /** The tenant a call acts in when its path names none (API.md; tenant-of.ts): `chosen` is the user's pick. */
  tenantOf(principal: Principal, chosen: string | undefined): Promise<string> {
    return tenantIdOf(principal, chosen, (userId) => this.personalTenantOf(userId));
  }

  /**
   * Who may settle or release a reservation of the tenant the call acts in: any member,
   * and a key allowed to authorize (it closes the reservations its decisions made) —
   * whatever the tenant's standing now: the run was granted, and its work is charged.
   */
  async closingAccess(principal: Principal, chosen: string | undefined): Promise<TenantAccess> {
    const tenantId = await this.tenantOf(principal, chosen);
    if (principal.type === 'api_key' && principal.scopes.includes('authorize')) return this.verified(principal, tenantId, { anyStanding: true });
    return this.access(principal, tenantId, 'member', { anyStanding: true });
  }

  /** The tenant's generation (migration 0009), read in the caller's transaction; undefined without the tenant. */
  async generation(tx: Executor, tenantId: string): Promise<number | undefined> {
    return (await repo.findTenant(tx, tenantId))?.generation;
  }

  /** Whether a tenant exists (operator routes): the 404 of a missing one otherwise. */
  async assertTenantExists(tenantId: string): Promise<void> {
    if (!(await inTenant(this.db, tenantId, (tx) => repo.findTenant(tx, tenantId)))) throw new AppError('TENANT_NOT_FOUND');
  }

  /**
   * A membership made in a transaction of another service (an invitation accepted), once
   * it has committed: every process forgets what it cached of it — a "not a member" answer
   * included — before this returns.
   */
  async memberJoined(tenantId: string, userId: string): Promise<void> {
    await this.changes.publish({ kind: 'member', tenantId, userId });
  }

  async findUser(userId: string): Promise<repo.UserRow | undefined> {
    return inSystem(this.db, (tx) => repo.findUserById(tx, userId));
  }

  async findMembership(tenantId: string, userId: string): Promise<{ role: Role } | undefined> {
    return inTenant(this.db, tenantId, (tx) => repo.findMembership(tx, tenantId, userId));
  }
}

/**
 * The role a principal acts with: a member's own role; an API key is no member, so its
 * scope stands in — `manage` acts as an admin, `read` as a member, anything else as nobody.
 */
/** Admins (and `manage` keys) manage members and admins; only owners touch owners or grant ownership. */
export function mayManage(role: Role | null, currentRole: Role, newRole: Role): boolean {
  if (role === 'owner') return true;
  return role === 'admin' && currentRole !== 'owner' && newRole !== 'owner';
}

export function effectiveRole(access: TenantAccess): Role | null {
  if (access.role) return access.role;
  const p = access.principal;
  if (p.type !== 'api_key') return null;
  if (p.scopes.includes('manage')) return 'admin';
  return p.scopes.includes('read') ? 'member' : null;
}

export function actorOf(access: TenantAccess): Actor {
  const p = access.principal;
  if (p.type === 'user') return { type: 'user', id: p.userId };
  if (p.type === 'api_key') return { type: 'api_key', id: p.keyId };
  return { type: 'service', id: p.keyId, ...(p.onBehalfOf ? { onBehalfOf: p.onBehalfOf.userId } : {}) };
}

export function toUserView(row: repo.UserRow): UserView {
  return {
    id: row.id, email: row.email, name: row.name, status: row.status, isOperator: row.isOperator,
    personalTenantId: row.personalTenantId, createdAt: row.createdAt.toISOString(),
  };
}

/**
 * The acting user of a route that names no tenant (so no tenant check re-reads it), read
 * in the route's own transaction: a deactivation or a password reset committed a moment
 * ago by another process is honoured before its notification has evicted this one's
 * cached state.
 */
export async function readActingUser(tx: Executor, principal: UserPrincipal): Promise<repo.UserRow> {
  const user = await repo.findUserById(tx, principal.userId);
  if (!user) throw new AppError('UNAUTHENTICATED');
  if (user.status !== 'active') throw new AppError('USER_DEACTIVATED');
  assertSessionLive(principal, user.sessionsValidAfter);
  return user;
}
