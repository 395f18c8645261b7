import { sql } from 'drizzle-orm';
import { rows, type Executor } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import type { EventType } from './tables.js';

export interface PublishedEvent {
  tenantId: string;
  type: EventType;
  /** The event's own fields; tenantId is added. */
  data: Record<string, unknown>;
}

/**
 * The outbox: an event is a row written in the caller's transaction, so it exists if and
 * only if the change it announces committed; the dispatcher delivers it afterwards. The
 * rules for limit.threshold and credits.low are SQL (db/functions/events.sql), the ones
 * the decision's statement and the meters' consume statement (limits/repo.ts) apply too.
 */
export class EventOutbox {
  constructor(private readonly clock: Clock, readonly creditsLowThreshold: number | null) {}

  async publish(tx: Executor, event: PublishedEvent): Promise<string> {
    const [row] = await rows<{ id: string }>(tx, sql`
      SELECT tollgate_publish(${event.tenantId}, ${event.type}, ${JSON.stringify(event.data)}::jsonb, ${this.clock.now().toISOString()}::timestamptz) AS id`);
    return row!.id;
  }

  /** credits.low for a tenant whose account changed in this transaction (once per crossing). */
  async creditsChanged(tx: Executor, tenantId: string): Promise<void> {
    if (this.creditsLowThreshold === null) return;
    await tx.execute(sql`SELECT tollgate_credits_low(ARRAY[${tenantId}]::text[], ${this.creditsLowThreshold}::bigint,
      ${this.clock.now().toISOString()}::timestamptz)`);
  }
}
