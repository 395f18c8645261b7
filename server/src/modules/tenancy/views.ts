import { Type } from 'typebox';
import { RoleSchema } from '../../http/schemas.js';

/** Response schemas of the tenancy module (the OpenAPI document is built from them). */
export const UserViewSchema = Type.Object({
  id: Type.String(), email: Type.String(), name: Type.Union([Type.String(), Type.Null()]), status: Type.String(),
  isOperator: Type.Boolean(), personalTenantId: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(),
});

export const SubscriptionSchema = Type.Object({
  id: Type.String(), plan: Type.String(), status: Type.String(), currentPeriodStart: Type.String(),
  currentPeriodEnd: Type.String(), trialEndsAt: Type.Union([Type.String(), Type.Null()]),
  paymentMethod: Type.Union([Type.String(), Type.Null()]),
});

export const TenantViewSchema = Type.Object({
  id: Type.String(), name: Type.String(), kind: Type.String(), status: Type.String(), plan: Type.String(),
  enterprise: Type.Boolean(), subscription: Type.Union([SubscriptionSchema, Type.Null()]), createdAt: Type.String(),
});

export const MemberViewSchema = Type.Object({
  userId: Type.String(), email: Type.String(), name: Type.Union([Type.String(), Type.Null()]), role: RoleSchema, joinedAt: Type.String(),
});

export const InvitationViewSchema = Type.Object({
  id: Type.String(), email: Type.String(), role: RoleSchema, expiresAt: Type.String(), createdAt: Type.String(),
});
