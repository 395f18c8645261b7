import { and, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { newestFirst, olderThan } from '../../db/columns.js';
import type { Position } from '../../lib/cursor.js';
import { auditLog } from './tables.js';

export type AuditRow = typeof auditLog.$inferSelect;

export async function insertEntry(db: Executor, row: AuditRow): Promise<void> {
  await db.insert(auditLog).values(row);
}

export interface AuditQuery {
  tenantId: string;
  action?: string | undefined;
  actorId?: string | undefined;
  before?: Position | undefined;
  limit: number;
}

/** Newest first, keyset-paginated (db/columns.ts) so pages never shift under inserts. */
export async function listEntries(db: Executor, q: AuditQuery): Promise<AuditRow[]> {
  const conditions = [eq(auditLog.tenantId, q.tenantId)];
  if (q.action) conditions.push(eq(auditLog.action, q.action));
  if (q.actorId) conditions.push(eq(auditLog.actorId, q.actorId));
  return db.select().from(auditLog).where(and(...conditions, olderThan(auditLog.createdAt, auditLog.id, q.before)))
    .orderBy(...newestFirst(auditLog.createdAt, auditLog.id)).limit(q.limit);
}
