import { and, desc, eq, lt, or } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { auditLog } from './tables.js';

export type AuditRow = typeof auditLog.$inferSelect;

export async function insertEntry(db: Executor, row: AuditRow): Promise<void> {
  await db.insert(auditLog).values(row);
}

export interface AuditQuery {
  tenantId: string;
  action?: string | undefined;
  actorId?: string | undefined;
  before?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

/** Newest first, keyset-paginated on (created_at, id) so pages never shift under inserts. */
export async function listEntries(db: Executor, q: AuditQuery): Promise<AuditRow[]> {
  const conditions = [eq(auditLog.tenantId, q.tenantId)];
  if (q.action) conditions.push(eq(auditLog.action, q.action));
  if (q.actorId) conditions.push(eq(auditLog.actorId, q.actorId));
  if (q.before) {
    conditions.push(or(
      lt(auditLog.createdAt, q.before.createdAt),
      and(eq(auditLog.createdAt, q.before.createdAt), lt(auditLog.id, q.before.id)),
    )!);
  }
  return db.select().from(auditLog).where(and(...conditions))
    .orderBy(desc(auditLog.createdAt), desc(auditLog.id)).limit(q.limit);
}
