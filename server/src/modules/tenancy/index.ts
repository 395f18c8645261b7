export { AccessCheck, assertSessionLive, type Stamp, type StampedCheck, type TenantDenial, type AccessCheckOptions, type UserState } from './access.js';
export { TenancyService, actorOf, effectiveRole, toUserView, type MemberView, type TenancyExtension, type TenancyHooks, type TenantView, type UserView, type RoleNeed } from './service.js';
export { InvitationService, type InvitationView } from './invitations.js';
export { TenancyAdminService, type OverrideStore, type TenantPatch } from './admin.js';
export { tenancyRoutes } from './routes.js';
export { tenancyAdminRoutes } from './admin-routes.js';
export { tenancyErrors } from './errors.js';
export { ROLES, type Role, type TenantStatus } from './tables.js';
export { InvitationViewSchema, MemberViewSchema, TenantViewSchema, UserViewSchema } from './views.js';
