import { Type } from 'typebox';
import { Nullable, RoleSchema } from '../../http/schemas.js';

/** Response schemas of the tenancy module (the OpenAPI document is built from them). */
export const UserViewSchema = Type.Object({
  id: Type.String(), email: Type.String(), name: Nullable(Type.String()), status: Type.String(),
  isOperator: Type.Boolean(), personalTenantId: Nullable(Type.String()), createdAt: Type.String(),
});

export const SubscriptionSchema = Type.Object({
  id: Type.String(), plan: Type.String(), status: Type.String(), currentPeriodStart: Type.String(),
  currentPeriodEnd: Type.String(), trialEndsAt: Nullable(Type.String()),
  paymentMethod: Nullable(Type.String()),
});

export const TenantViewSchema = Type.Object({
  id: Type.String(), name: Type.String(), kind: Type.String(), status: Type.String(), plan: Type.String(),
  enterprise: Type.Boolean(), subscription: Nullable(SubscriptionSchema), createdAt: Type.String(),
});

export const MemberViewSchema = Type.Object({
  userId: Type.String(), email: Type.String(), name: Nullable(Type.String()), role: RoleSchema, joinedAt: Type.String(),
});

export const InvitationViewSchema = Type.Object({
  id: Type.String(), email: Type.String(), role: RoleSchema, expiresAt: Type.String(), createdAt: Type.String(),
});
