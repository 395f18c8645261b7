import type { TestDatabase } from './harness.js';

/** A node of a plan as EXPLAIN (ANALYZE, FORMAT JSON) gives it: what a test reads of it. */
export interface PlanNode { 'Relation Name'?: string; 'Actual Rows'?: number; 'Rows Removed by Filter'?: number; Plans?: PlanNode[] }

/** The table scans of `query`'s plan as it ran (EXPLAIN ANALYZE, as the database's owner), outermost first. */
export async function scansRun(db: TestDatabase, query: { sql: string; params: unknown[] }): Promise<PlanNode[]> {
  const [explained] = await db.asOwner<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${query.sql}`, query.params);
  const plan = explained!['QUERY PLAN'];
  // PGlite hands the JSON over as text, PostgreSQL's driver as parsed.
  const root = (typeof plan === 'string' ? JSON.parse(plan) : plan) as { Plan: PlanNode }[];
  return scansOf(root[0]!.Plan);
}

const scansOf = (node: PlanNode): PlanNode[] => [...(node['Relation Name'] ? [node] : []), ...(node.Plans ?? []).flatMap(scansOf)];
