import { and, asc, eq, getTableColumns, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { apiKeys, serviceKeys } from './tables.js';

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type ServiceKeyRow = typeof serviceKeys.$inferSelect;

export async function insertApiKey(db: Executor, row: ApiKeyRow): Promise<void> {
  await db.insert(apiKeys).values(row);
}

export async function findApiKey(db: Executor, tenantId: string, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)));
  return row;
}

/** Row lock: two rotations of one key cannot both succeed. */
export async function lockApiKey(db: Executor, tenantId: string, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id))).for('update');
  return row;
}

/** The tenant's generation, read in the same statement as the key's row (so that the two agree). */
const tenantGeneration = sql<number>`(SELECT t.generation FROM tenants t WHERE t.id = ${apiKeys.tenantId})`.mapWith(Number);

export async function findApiKeyByHash(db: Executor, keyHash: string): Promise<(ApiKeyRow & { generation: number }) | undefined> {
  const [row] = await db.select({ ...getTableColumns(apiKeys), generation: tenantGeneration }).from(apiKeys).where(eq(apiKeys.keyHash, keyHash));
  return row;
}

export async function findApiKeyStamped(db: Executor, tenantId: string, id: string): Promise<(ApiKeyRow & { generation: number }) | undefined> {
  const [row] = await db.select({ ...getTableColumns(apiKeys), generation: tenantGeneration }).from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)));
  return row;
}

export async function listApiKeys(db: Executor, tenantId: string): Promise<ApiKeyRow[]> {
  return db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(asc(apiKeys.createdAt), asc(apiKeys.id));
}

export async function revokeApiKey(db: Executor, tenantId: string, id: string, now: Date): Promise<boolean> {
  const rows = await db.update(apiKeys).set({ revokedAt: now })
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return rows.length === 1;
}

export async function setGraceUntil(db: Executor, tenantId: string, id: string, graceUntil: Date): Promise<void> {
  await db.update(apiKeys).set({ graceUntil }).where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)));
}

export async function insertServiceKey(db: Executor, row: typeof serviceKeys.$inferInsert): Promise<void> {
  await db.insert(serviceKeys).values(row);
}

export async function findServiceKeyByHash(db: Executor, keyHash: string): Promise<ServiceKeyRow | undefined> {
  const [row] = await db.select().from(serviceKeys).where(eq(serviceKeys.keyHash, keyHash));
  return row;
}

export async function listServiceKeys(db: Executor): Promise<ServiceKeyRow[]> {
  return db.select().from(serviceKeys).orderBy(asc(serviceKeys.createdAt), asc(serviceKeys.id));
}

export async function findServiceKey(db: Executor, id: string): Promise<ServiceKeyRow | undefined> {
  const [row] = await db.select().from(serviceKeys).where(eq(serviceKeys.id, id));
  return row;
}

export async function revokeServiceKey(db: Executor, id: string, now: Date): Promise<boolean> {
  const rows = await db.update(serviceKeys).set({ revokedAt: now })
    .where(and(eq(serviceKeys.id, id), isNull(serviceKeys.revokedAt)))
    .returning({ id: serviceKeys.id });
  return rows.length === 1;
}

/**
 * One statement per table for a whole batch of last-used times; a time never moves
 * backwards, so batches from several processes may land in any order.
 */
export async function touchLastUsed(db: Executor, table: 'api_keys' | 'service_keys', uses: { id: string; at: string }[]): Promise<void> {
  if (uses.length === 0) return;
  await db.execute(sql`
    UPDATE ${sql.identifier(table)} AS k SET last_used_at = u.at
    FROM jsonb_to_recordset(${JSON.stringify(uses)}::jsonb) AS u(id text, at timestamptz)
    WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`);
}
