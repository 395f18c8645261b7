import { eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { tenantModules, tenantOverrides } from './tables.js';

export type OverrideRow = typeof tenantOverrides.$inferSelect;
export type ModuleSwitchRow = typeof tenantModules.$inferSelect;

export async function findOverrides(db: Executor, tenantId: string): Promise<OverrideRow | undefined> {
  const [row] = await db.select().from(tenantOverrides).where(eq(tenantOverrides.tenantId, tenantId));
  return row;
}

export async function saveOverrides(db: Executor, row: OverrideRow): Promise<void> {
  await db.insert(tenantOverrides).values(row).onConflictDoUpdate({
    target: tenantOverrides.tenantId,
    set: { limits: row.limits, enterprise: row.enterprise, updatedAt: row.updatedAt },
  });
}

export async function listModuleSwitches(db: Executor, tenantId: string): Promise<ModuleSwitchRow[]> {
  return db.select().from(tenantModules).where(eq(tenantModules.tenantId, tenantId));
}

export async function saveModuleSwitch(db: Executor, row: ModuleSwitchRow): Promise<void> {
  await db.insert(tenantModules).values(row).onConflictDoUpdate({
    target: [tenantModules.tenantId, tenantModules.module],
    set: { enabled: row.enabled, updatedAt: row.updatedAt },
  });
}
