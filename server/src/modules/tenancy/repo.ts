import { and, asc, eq, gt, ilike, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { invitations, memberships, tenants, users, type Role, type TenantStatus } from './tables.js';

/** The tenant id column, for conditions other modules make on it (the operator's billing filters). */
export const TENANT_ID = tenants.id;

export type UserRow = typeof users.$inferSelect;
export type TenantRow = typeof tenants.$inferSelect;
export type MembershipRow = typeof memberships.$inferSelect;
export type InvitationRow = typeof invitations.$inferSelect;

export async function insertUser(db: Executor, row: typeof users.$inferInsert): Promise<void> {
  await db.insert(users).values(row);
}

export async function findUserById(db: Executor, id: string, lock = false): Promise<UserRow | undefined> {
  const query = db.select().from(users).where(eq(users.id, id));
  const [row] = lock ? await query.for('no key update') : await query;
  return row;
}

/** The active operators, their rows locked (an operator's deactivation counts them). */
export async function lockActiveOperators(db: Executor): Promise<string[]> {
  const rows = await db.select({ id: users.id }).from(users).where(and(eq(users.isOperator, true), eq(users.status, 'active'))).orderBy(asc(users.id)).for('no key update');
  return rows.map((r) => r.id);
}

/** When the user's sessions became valid, the row held (FOR SHARE) until the transaction ends. */
export async function lockUserSessions(db: Executor, id: string): Promise<{ sessionsValidAfter: Date | null; status: string } | undefined> {
  const [row] = await db.select({ sessionsValidAfter: users.sessionsValidAfter, status: users.status }).from(users).where(eq(users.id, id)).for('share');
  return row;
}

export async function findUserByEmail(db: Executor, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`);
  return row;
}

export async function updateUser(db: Executor, id: string, patch: Partial<UserRow>): Promise<UserRow | undefined> {
  const [row] = await db.update(users).set(patch).where(eq(users.id, id)).returning();
  return row;
}

export async function insertTenant(db: Executor, row: typeof tenants.$inferInsert): Promise<void> {
  await db.insert(tenants).values(row);
}

export async function findTenant(db: Executor, id: string): Promise<TenantRow | undefined> {
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id));
  return row;
}

/** Holds the tenant's row until the transaction ends, as an update of it would (FOR NO KEY UPDATE). */
export async function holdTenant(db: Executor, id: string): Promise<void> {
  await db.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, id)).for('no key update');
}

/**
 * Sets the tenant's status and returns the one it replaced, or undefined when it was that
 * status already. The row is locked first, so of callers racing to the same status one
 * changes it and the others see it changed (and announce nothing).
 */
export async function changeTenantStatus(db: Executor, id: string, status: TenantStatus, now: Date): Promise<TenantStatus | undefined> {
  const [row] = await db.select({ status: tenants.status }).from(tenants).where(eq(tenants.id, id)).for('update');
  if (!row || row.status === status) return undefined;
  await db.update(tenants).set({ status, updatedAt: now }).where(eq(tenants.id, id));
  return row.status;
}

export async function searchTenants(db: Executor, q: { query?: string | undefined; status?: TenantStatus | undefined; afterId?: string | undefined; limit: number }, extra?: SQL): Promise<TenantRow[]> {
  const conditions = extra ? [extra] : [];
  if (q.query) {
    const pattern = `%${q.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // A member's email matches as the name does (case-insensitive, a part of it). An EXISTS
    // per tenant: each tenant is listed once, however many of its members match, and the
    // page stays ordered and cut by the tenant's id. Like the name's '%…%', it is a scan
    // (of the memberships and their users), not an index lookup: fine for an operator's search.
    const memberEmail = sql`EXISTS (SELECT 1 FROM ${memberships} JOIN ${users} ON ${users.id} = ${memberships.userId}
      WHERE ${memberships.tenantId} = ${tenants.id} AND ${ilike(users.email, pattern)})`;
    conditions.push(or(ilike(tenants.name, pattern), eq(tenants.id, q.query), memberEmail)!);
  }
  if (q.status) conditions.push(eq(tenants.status, q.status));
  if (q.afterId) conditions.push(gt(tenants.id, q.afterId));
  return db.select().from(tenants).where(and(...conditions)).orderBy(asc(tenants.id)).limit(q.limit);
}

export async function insertMembership(db: Executor, row: MembershipRow): Promise<void> {
  await db.insert(memberships).values(row);
}

/**
 * A user's role in a tenant (null: no member) with the tenant's generation, read in one
 * statement so that the two agree; undefined when the tenant does not exist.
 */
export async function findRoleStamped(db: Executor, tenantId: string, userId: string): Promise<{ role: Role | null; generation: number } | undefined> {
  const [row] = await db.select({ role: memberships.role, generation: tenants.generation }).from(tenants)
    .leftJoin(memberships, and(eq(memberships.tenantId, tenants.id), eq(memberships.userId, userId)))
    .where(eq(tenants.id, tenantId));
  return row && { role: row.role ?? null, generation: row.generation };
}

export async function findMembership(db: Executor, tenantId: string, userId: string): Promise<MembershipRow | undefined> {
  const [row] = await db.select().from(memberships)
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId)));
  return row;
}

/** The membership, held against a change of role or a removal until the transaction ends. */
export async function holdMembership(db: Executor, tenantId: string, userId: string): Promise<MembershipRow | undefined> {
  const [row] = await db.select().from(memberships)
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId))).for('share');
  return row;
}

export async function listMembers(db: Executor, tenantId: string): Promise<(MembershipRow & Pick<UserRow, 'email' | 'name' | 'status' | 'lastSignInAt'>)[]> {
  return db.select({
    tenantId: memberships.tenantId, userId: memberships.userId, role: memberships.role,
    createdAt: memberships.createdAt, updatedAt: memberships.updatedAt, email: users.email, name: users.name,
    status: users.status, lastSignInAt: users.lastSignInAt,
  }).from(memberships).innerJoin(users, eq(users.id, memberships.userId))
    .where(eq(memberships.tenantId, tenantId)).orderBy(asc(memberships.createdAt), asc(memberships.userId));
}

export async function listMembershipsOfUser(db: Executor, userId: string): Promise<MembershipRow[]> {
  return db.select().from(memberships).where(eq(memberships.userId, userId)).orderBy(asc(memberships.createdAt));
}

/** Locks the tenant's owner rows so two concurrent demotions cannot both pass the last-owner check. */
export async function lockOwners(db: Executor, tenantId: string): Promise<string[]> {
  const rows = await db.select({ userId: memberships.userId }).from(memberships)
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.role, 'owner'))).for('update');
  return rows.map((r) => r.userId);
}

export async function setMemberRole(db: Executor, tenantId: string, userId: string, role: Role, now: Date): Promise<void> {
  await db.update(memberships).set({ role, updatedAt: now })
    .where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId)));
}

export async function deleteMembership(db: Executor, tenantId: string, userId: string): Promise<void> {
  await db.delete(memberships).where(and(eq(memberships.tenantId, tenantId), eq(memberships.userId, userId)));
}

export async function insertInvitation(db: Executor, row: InvitationRow): Promise<void> {
  await db.insert(invitations).values(row);
}

export async function findInvitationByTokenHash(db: Executor, tokenHash: string): Promise<InvitationRow | undefined> {
  const [row] = await db.select().from(invitations).where(eq(invitations.tokenHash, tokenHash));
  return row;
}

export async function listOpenInvitations(db: Executor, tenantId: string, now: Date): Promise<InvitationRow[]> {
  return db.select().from(invitations).where(and(
    eq(invitations.tenantId, tenantId), isNull(invitations.acceptedAt), isNull(invitations.revokedAt), gt(invitations.expiresAt, now),
  )).orderBy(asc(invitations.createdAt));
}

/** Single-use by construction: only an open, unexpired invitation flips to accepted. */
export async function markInvitationAccepted(db: Executor, tenantId: string, id: string, userId: string, now: Date): Promise<boolean> {
  const rows = await db.update(invitations).set({ acceptedAt: now, acceptedBy: userId })
    .where(and(eq(invitations.tenantId, tenantId), eq(invitations.id, id), isNull(invitations.acceptedAt),
      isNull(invitations.revokedAt), gt(invitations.expiresAt, now)))
    .returning({ id: invitations.id });
  return rows.length === 1;
}

export async function revokeInvitation(db: Executor, tenantId: string, id: string, now: Date): Promise<boolean> {
  const rows = await db.update(invitations).set({ revokedAt: now })
    .where(and(eq(invitations.tenantId, tenantId), eq(invitations.id, id), isNull(invitations.acceptedAt), isNull(invitations.revokedAt)))
    .returning({ id: invitations.id });
  return rows.length === 1;
}
