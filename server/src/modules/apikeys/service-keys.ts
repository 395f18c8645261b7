import type { Db } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import type { ChangeFeed } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { CallContext } from '../../lib/principal.js';
import { sha256Hex } from '../../lib/secrets.js';
import { PLATFORM_TENANT_ID, type AuditService } from '../audit/index.js';
import { displayParts, generateKey } from './format.js';
import * as repo from './repo.js';
import { iso } from './service.js';

export interface ServiceKeyView {
  id: string; name: string; prefix: string; lastFour: string; status: 'active' | 'revoked';
  revokedAt: string | null; lastUsedAt: string | null; createdBy: string; createdAt: string;
}

/**
 * Service keys: operator-issued, for backend-to-backend calls. They belong to no tenant
 * and carry no rights of their own; they act only on behalf of a user named per request,
 * whose membership and role Tollgate reads itself. Audited under the platform pseudo-tenant.
 */
export class ServiceKeyService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly changes: ChangeFeed,
  ) {}

  async create(operatorId: string, name: string, ctx: CallContext): Promise<ServiceKeyView & { key: string }> {
    const now = this.clock.now();
    const key = generateKey('tgs');
    const row: repo.ServiceKeyRow = {
      id: newId('svc', now.getTime()), name, ...displayParts(key), keyHash: sha256Hex(key),
      createdBy: operatorId, revokedAt: null, lastUsedAt: null, createdAt: now, generation: 1,
    };
    await inSystem(this.db, async (tx) => {
      await repo.insertServiceKey(tx, row);
      await this.audit.record(tx, {
        tenantId: PLATFORM_TENANT_ID, actor: { type: 'operator', id: operatorId }, action: 'service_key.create',
        target: { type: 'service_key', id: row.id }, data: { name, prefix: row.prefix }, requestId: ctx.requestId,
      });
    });
    return { ...toView(row), key };
  }

  async list(): Promise<ServiceKeyView[]> {
    return inSystem(this.db, async (tx) => (await repo.listServiceKeys(tx)).map(toView));
  }

  async revoke(operatorId: string, keyId: string, ctx: CallContext): Promise<void> {
    const change = { kind: 'service_key', id: keyId } as const;
    await this.changes.commit(change, () => inSystem(this.db, async (tx) => {
      const row = await repo.findServiceKey(tx, keyId);
      if (!row) throw new AppError('SERVICE_KEY_NOT_FOUND');
      if (!(await repo.revokeServiceKey(tx, keyId, this.clock.now()))) return;
      await this.audit.record(tx, {
        tenantId: PLATFORM_TENANT_ID, actor: { type: 'operator', id: operatorId }, action: 'service_key.revoke',
        target: { type: 'service_key', id: keyId }, data: { prefix: row.prefix }, requestId: ctx.requestId,
      });
      await this.changes.announce(tx, change);
    }));
  }
}

function toView(row: repo.ServiceKeyRow): ServiceKeyView {
  return {
    id: row.id, name: row.name, prefix: row.prefix, lastFour: row.lastFour, status: row.revokedAt ? 'revoked' : 'active',
    revokedAt: iso(row.revokedAt), lastUsedAt: iso(row.lastUsedAt), createdBy: row.createdBy, createdAt: row.createdAt.toISOString(),
  };
}
