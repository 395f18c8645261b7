import { Type } from 'typebox';
import { Nullable, RoleSchema } from '../../http/schemas.js';
import { SubscriptionSchema } from '../billing/index.js';

/** Response schemas of the tenancy module (the OpenAPI document is built from them). */
export const UserViewSchema = Type.Object({
  id: Type.String(), email: Type.String(), name: Nullable(Type.String()), status: Type.String(),
  isOperator: Type.Boolean(), personalTenantId: Nullable(Type.String()), createdAt: Type.String(),
});

export const TenantViewSchema = Type.Object({
  id: Type.String(), name: Type.String(), kind: Type.String(), status: Type.String(), plan: Type.String(),
  enterprise: Type.Boolean(), subscription: Nullable(SubscriptionSchema), createdAt: Type.String(),
});

/** A tenant's user as operators see it: role in the tenant, account status, last sign-in. */
export const TenantUserSchema = Type.Object({
  id: Type.String(), email: Type.String(), name: Nullable(Type.String()), role: RoleSchema, status: Type.String(),
  lastSignInAt: Nullable(Type.String()), joinedAt: Type.String(),
});

export const MemberViewSchema = Type.Object({
  userId: Type.String(), email: Type.String(), name: Nullable(Type.String()), role: RoleSchema, joinedAt: Type.String(),
});

export const InvitationViewSchema = Type.Object({
  id: Type.String(), email: Type.String(), role: RoleSchema, expiresAt: Type.String(), createdAt: Type.String(),
});
