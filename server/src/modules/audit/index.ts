export { AuditService, PLATFORM_TENANT_ID, type Actor, type AuditEntry, type AuditEntryInput } from './service.js';
export { auditRoutes } from './routes.js';
