import type { Executor } from '../../db/client.js';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { keysetPage } from '../../lib/cursor.js';
import { insertEntry, listEntries, type AuditRow } from './repo.js';

/** Who did it: a user, an API key, a service key, an operator, or the system itself. */
export interface Actor {
  type: 'user' | 'operator' | 'api_key' | 'service' | 'system';
  id: string | null;
  /** A service key acting for a member (API.md's onBehalfOf): that user, kept in the entry's data. */
  onBehalfOf?: string;
}

export interface AuditEntryInput {
  tenantId: string;
  actor: Actor;
  action: string;
  target?: { type: string; id: string };
  data?: Record<string, unknown>;
  requestId?: string | undefined;
}

/** Entries without a tenant (operator-wide actions) are filed under this pseudo-tenant. */
export const PLATFORM_TENANT_ID = 'tnt_platform';

export interface AuditEntry {
  id: string;
  tenantId: string;
  actor: Actor;
  action: string;
  target: { type: string; id: string } | null;
  data: Record<string, unknown>;
  requestId: string | null;
  createdAt: string;
}

export class AuditService {
  constructor(private readonly clock: Clock) {}

  /** Always called with the transaction of the change it records, never after it. */
  async record(tx: Executor, input: AuditEntryInput): Promise<void> {
    const now = this.clock.now();
    await insertEntry(tx, {
      tenantId: input.tenantId,
      id: newId('aud', now.getTime()),
      actorType: input.actor.type,
      actorId: input.actor.id,
      action: input.action,
      targetType: input.target?.type ?? null,
      targetId: input.target?.id ?? null,
      // Whose hand a shared backend key acted by: an owner's change made through it names them.
      data: input.actor.onBehalfOf === undefined ? input.data ?? {} : { ...input.data, onBehalfOf: input.actor.onBehalfOf },
      requestId: input.requestId ?? null,
      createdAt: now,
    });
  }

  async list(db: Executor, q: { tenantId: string; action?: string | undefined; actorId?: string | undefined; cursor?: string | undefined; limit: number }): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
    const page = await keysetPage(q, (before, limit) => listEntries(db, { ...q, before, limit }));
    return { entries: page.items.map(toEntry), nextCursor: page.nextCursor };
  }
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    tenantId: row.tenantId,
    actor: { type: row.actorType as Actor['type'], id: row.actorId },
    action: row.action,
    target: row.targetType && row.targetId ? { type: row.targetType, id: row.targetId } : null,
    data: row.data,
    requestId: row.requestId,
    createdAt: row.createdAt.toISOString(),
  };
}
