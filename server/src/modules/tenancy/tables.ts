import { bigint, boolean, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { at } from '../../db/columns.js';
import type { Role } from '../../lib/principal.js';

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull(),
  name: text('name'),
  passwordHash: text('password_hash'),
  isOperator: boolean('is_operator').notNull().default(false),
  status: text('status').$type<'active' | 'deactivated'>().notNull().default('active'),
  personalTenantId: text('personal_tenant_id'),
  /** Access tokens issued at or before this instant (to the millisecond) are signed out (set by a password reset). */
  sessionsValidAfter: at('sessions_valid_after'),
  /** Moves with every change of status or sessions (migration 0009's stamps). */
  generation: bigint('generation', { mode: 'number' }).notNull().default(1),
  /** The last password sign-in (or signup): operators see it beside the user. */
  lastSignInAt: at('last_sign_in_at'),
  /** When the user last proved control of the email (a provider's verified claim at provisioning, a password reset); null: never, or not known (made before migration 0028). */
  emailVerifiedAt: at('email_verified_at'),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
});

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  kind: text('kind').$type<'personal' | 'team'>().notNull(),
  status: text('status').$type<TenantStatus>().notNull().default('active'),
  /** Moves with every change the decision's rules read: status, subscription, overrides, modules, members, keys (migration 0009). */
  generation: bigint('generation', { mode: 'number' }).notNull().default(1),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
});

export const memberships = pgTable('memberships', {
  tenantId: text('tenant_id').notNull(),
  userId: text('user_id').notNull(),
  role: text('role').$type<Role>().notNull(),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.userId] })]);

export const invitations = pgTable('invitations', {
  tenantId: text('tenant_id').notNull(),
  id: text('id').notNull(),
  email: text('email').notNull(),
  role: text('role').$type<Role>().notNull(),
  tokenHash: text('token_hash').notNull(),
  invitedBy: text('invited_by').notNull(),
  expiresAt: at('expires_at').notNull(),
  acceptedAt: at('accepted_at'),
  acceptedBy: text('accepted_by'),
  revokedAt: at('revoked_at'),
  createdAt: at('created_at').notNull(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.id] })]);

export type { Role };
export type TenantStatus = 'active' | 'suspended' | 'closed';
export const ROLES: readonly Role[] = ['owner', 'admin', 'member'];
