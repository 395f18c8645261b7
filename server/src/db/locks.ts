import { sql } from 'drizzle-orm';
import type { Executor } from './client.js';

/**
 * Serialises work on one (tenant, key) pair until the transaction ends: concurrent
 * requests with the same idempotency key queue here, and the second sees the first's result.
 */
export async function lockKey(db: Executor, tenantId: string, key: string): Promise<void> {
  await db.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`${tenantId}:${key}`}, 0))`);
}
