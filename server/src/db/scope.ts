import { sql } from 'drizzle-orm';
import type { Db, Tx } from './client.js';

/**
 * Runs fn in a transaction that row-level security scopes to one tenant:
 * rows of every other tenant are invisible and cannot be written.
 */
export function inTenant<T>(db: Db, tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('app.tenant_id', ${tenantId}, true)`);
    return fn(tx);
  });
}

/**
 * A transaction that may touch several tenants' rows. Only for the paths that are
 * cross-tenant by nature: credential resolution, signup before a tenant exists,
 * operator search, sweepers. Tenant routes never use it.
 */
export function inSystem<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('app.system', 'on', true)`);
    return fn(tx);
  });
}
