import { and, asc, count, eq, sql } from 'drizzle-orm';
import { rows, type Executor } from '../../db/client.js';
import { routeExternalIds, tenantRoutes } from './tables.js';

export type RouteRow = typeof tenantRoutes.$inferSelect;

/** A tenant's routes in the order the decision tries them: oldest first. */
export async function listRoutes(db: Executor, tenantId: string): Promise<RouteRow[]> {
  return db.select().from(tenantRoutes).where(eq(tenantRoutes.tenantId, tenantId)).orderBy(asc(tenantRoutes.createdAt), asc(tenantRoutes.name));
}

/** A route as stored; a change reads it under the route name's lock (service.ts commit), which also covers a route not created yet. */
export async function findRoute(db: Executor, tenantId: string, name: string): Promise<RouteRow | undefined> {
  const [row] = await db.select().from(tenantRoutes).where(and(eq(tenantRoutes.tenantId, tenantId), eq(tenantRoutes.name, name)));
  return row;
}

/** How many routes the tenant has, enabled or not. */
export async function countRoutes(db: Executor, tenantId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(tenantRoutes).where(eq(tenantRoutes.tenantId, tenantId));
  return Number(row?.n ?? 0);
}

export async function insertRoute(db: Executor, row: RouteRow): Promise<void> {
  await db.insert(tenantRoutes).values(row);
}

export async function updateRoute(db: Executor, row: RouteRow): Promise<void> {
  const { tenantId, name, createdAt: _created, ...rest } = row;
  await db.update(tenantRoutes).set(rest).where(and(eq(tenantRoutes.tenantId, tenantId), eq(tenantRoutes.name, name)));
}

export async function deleteRoute(db: Executor, tenantId: string, name: string): Promise<boolean> {
  const gone = await db.delete(tenantRoutes).where(and(eq(tenantRoutes.tenantId, tenantId), eq(tenantRoutes.name, name))).returning({ name: tenantRoutes.name });
  return gone.length > 0;
}

/** Every tenant's routes (a system transaction): the reseal walks them. */
export async function allRoutes(db: Executor): Promise<RouteRow[]> {
  return db.select().from(tenantRoutes).orderBy(asc(tenantRoutes.tenantId), asc(tenantRoutes.name)).for('update');
}

/** A new seal of the same secret: not a change of the route (its version and the tenant's generation stay). */
export async function setSealed(db: Executor, tenantId: string, name: string, sealed: string): Promise<void> {
  await db.update(tenantRoutes).set({ secretSealed: sealed }).where(and(eq(tenantRoutes.tenantId, tenantId), eq(tenantRoutes.name, name)));
}

/** The tenant's external ID, made with `made` if it has none yet (concurrent first reads keep one of theirs). */
export async function externalIdOf(db: Executor, tenantId: string, made: () => { externalId: string; createdAt: Date }): Promise<string> {
  const read = async () => (await db.select({ externalId: routeExternalIds.externalId }).from(routeExternalIds).where(eq(routeExternalIds.tenantId, tenantId)))[0]?.externalId;
  const found = await read();
  if (found !== undefined) return found;
  await db.insert(routeExternalIds).values({ tenantId, ...made() }).onConflictDoNothing({ target: routeExternalIds.tenantId });
  return (await read())!;
}

/** Whether another tenant's route names the role (db/functions/routes.sql): taking the role's lock until the transaction ends. */
export async function roleTakenElsewhere(db: Executor, tenantId: string, roleArn: string): Promise<boolean> {
  const [row] = await rows<{ taken: boolean }>(db, sql`SELECT tollgate_role_taken(${roleArn}, ${tenantId}) AS taken`);
  return row!.taken;
}
