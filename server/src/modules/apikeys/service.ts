import type { Db, Executor } from '../../db/client.js';
import { inTenant } from '../../db/scope.js';
import type { ChangeFeed } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { CallContext, TenantAccess } from '../../lib/principal.js';
import { sha256Hex } from '../../lib/secrets.js';
import type { AuditService } from '../audit/index.js';
import { actorOf } from '../tenancy/index.js';
import { displayParts, generateKey, keyStatus, type KeyStatus } from './format.js';
import * as repo from './repo.js';
import type { Scope } from './tables.js';

export interface ApiKeyView {
  id: string; name: string; prefix: string; lastFour: string; scopes: Scope[];
  status: KeyStatus;
  expiresAt: string | null; revokedAt: string | null; graceUntil: string | null; rotatedFrom: string | null;
  rateLimit: { limit: number; windowSeconds: number } | null; usageCap: number | null;
  lastUsedAt: string | null; createdBy: string; createdAt: string;
}

export interface NewApiKey {
  name: string;
  scopes?: Scope[] | undefined;
  expiresAt?: string | undefined;
  rateLimit?: { limit: number; windowSeconds: number } | undefined;
  usageCap?: number | undefined;
}

/** Least privilege: a key made without scopes may only ask for decisions. */
export const DEFAULT_SCOPES: readonly Scope[] = ['authorize'];

/**
 * Tenant API keys. The tenant owns them (they outlive whoever created them); the key is
 * returned once and only its hash is kept. Every change is audited in its transaction
 * and announced, so cached copies in every process are dropped when it commits.
 */
export class ApiKeyService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly changes: ChangeFeed,
    /** Where api_key.revoked is written, in the revocation's transaction (the outbox, modules/webhooks). */
    private readonly events: { publish(tx: Executor, event: { tenantId: string; type: 'api_key.revoked'; data: Record<string, unknown> }): Promise<unknown> }
      = { publish: async () => undefined },
  ) {}

  async create(access: TenantAccess, input: NewApiKey, ctx: CallContext): Promise<ApiKeyView & { key: string }> {
    const now = this.clock.now();
    const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
    if (expiresAt && expiresAt.getTime() <= now.getTime()) throw new AppError('INVALID_EXPIRY');
    const { key, row } = this.newKey(access, {
      name: input.name, scopes: [...new Set(input.scopes ?? DEFAULT_SCOPES)], expiresAt,
      rateLimit: input.rateLimit?.limit ?? null, rateLimitWindowSeconds: input.rateLimit?.windowSeconds ?? null,
      usageCap: input.usageCap ?? null, rotatedFrom: null,
    }, now);
    await inTenant(this.db, access.tenantId, async (tx) => {
      await repo.insertApiKey(tx, row);
      await this.audit.record(tx, {
        tenantId: access.tenantId, actor: actorOf(access), action: 'api_key.create', target: { type: 'api_key', id: row.id },
        data: { name: row.name, prefix: row.prefix, scopes: row.scopes, expiresAt: expiresAt?.toISOString() ?? null }, requestId: ctx.requestId,
      });
    });
    return { ...this.toView(row), key };
  }

  /** A tenant's keys (for its owners/admins, and for operators). */
  async list(tenantId: string): Promise<ApiKeyView[]> {
    return inTenant(this.db, tenantId, async (tx) => (await repo.listApiKeys(tx, tenantId)).map((row) => this.toView(row)));
  }

  /** Idempotent: revoking a revoked key changes nothing and writes no second entry. */
  async revoke(access: TenantAccess, keyId: string, ctx: CallContext): Promise<void> {
    const change = { kind: 'api_key', id: keyId } as const;
    await this.changes.commit(change, () => inTenant(this.db, access.tenantId, async (tx) => {
      const row = await repo.findApiKey(tx, access.tenantId, keyId);
      if (!row) throw new AppError('API_KEY_NOT_FOUND');
      if (!(await repo.revokeApiKey(tx, access.tenantId, keyId, this.clock.now()))) return;
      await this.audit.record(tx, {
        tenantId: access.tenantId, actor: actorOf(access), action: 'api_key.revoke', target: { type: 'api_key', id: keyId },
        data: { prefix: row.prefix }, requestId: ctx.requestId,
      });
      await this.events.publish(tx, {
        tenantId: access.tenantId, type: 'api_key.revoked',
        data: { apiKey: { id: keyId, name: row.name, prefix: row.prefix }, revokedBy: actorOf(access) },
      });
      await this.changes.announce(tx, change);
    }));
  }

  /** A successor with the same settings; the old key keeps working until `graceSeconds` from now. */
  async rotate(access: TenantAccess, keyId: string, graceSeconds: number, ctx: CallContext): Promise<ApiKeyView & { key: string }> {
    const now = this.clock.now();
    const change = { kind: 'api_key', id: keyId } as const;
    return this.changes.commit(change, () => inTenant(this.db, access.tenantId, async (tx) => {
      const old = await repo.lockApiKey(tx, access.tenantId, keyId);
      if (!old) throw new AppError('API_KEY_NOT_FOUND');
      if (keyStatus(old, now) !== 'active') throw new AppError('API_KEY_NOT_ACTIVE');
      const graceUntil = new Date(now.getTime() + graceSeconds * 1000);
      const { key, row } = this.newKey(access, { ...old, rotatedFrom: old.id }, now);
      await repo.setGraceUntil(tx, access.tenantId, old.id, graceUntil);
      await repo.insertApiKey(tx, row);
      await this.audit.record(tx, {
        tenantId: access.tenantId, actor: actorOf(access), action: 'api_key.rotate', target: { type: 'api_key', id: old.id },
        data: { newKeyId: row.id, prefix: row.prefix, graceUntil: graceUntil.toISOString() }, requestId: ctx.requestId,
      });
      await this.changes.announce(tx, change);
      return { ...this.toView(row), key };
    }));
  }

  private newKey(
    access: TenantAccess,
    settings: Pick<repo.ApiKeyRow, 'name' | 'scopes' | 'expiresAt' | 'rateLimit' | 'rateLimitWindowSeconds' | 'usageCap' | 'rotatedFrom'> & { lineageId?: string },
    now: Date,
  ): { key: string; row: repo.ApiKeyRow } {
    const key = generateKey('tg');
    const id = newId('key', now.getTime());
    return {
      key,
      row: {
        // A rotation's successor continues its predecessor's lineage (its cap and rate bucket); a new key begins one.
        tenantId: access.tenantId, id, lineageId: settings.lineageId ?? id, ...displayParts(key), keyHash: sha256Hex(key),
        name: settings.name, scopes: settings.scopes, expiresAt: settings.expiresAt, rateLimit: settings.rateLimit,
        rateLimitWindowSeconds: settings.rateLimitWindowSeconds, usageCap: settings.usageCap, rotatedFrom: settings.rotatedFrom,
        revokedAt: null, graceUntil: null, lastUsedAt: null, createdBy: actorOf(access).id ?? 'unknown', createdAt: now,
      },
    };
  }

  private toView(row: repo.ApiKeyRow): ApiKeyView {
    return {
      id: row.id, name: row.name, prefix: row.prefix, lastFour: row.lastFour, scopes: row.scopes, status: keyStatus(row, this.clock.now()),
      expiresAt: iso(row.expiresAt), revokedAt: iso(row.revokedAt), graceUntil: iso(row.graceUntil), rotatedFrom: row.rotatedFrom,
      rateLimit: rateLimitOf(row), usageCap: row.usageCap, lastUsedAt: iso(row.lastUsedAt), createdBy: row.createdBy, createdAt: row.createdAt.toISOString(),
    };
  }
}

export function rateLimitOf(row: Pick<repo.ApiKeyRow, 'rateLimit' | 'rateLimitWindowSeconds'>): { limit: number; windowSeconds: number } | null {
  return row.rateLimit && row.rateLimitWindowSeconds ? { limit: row.rateLimit, windowSeconds: row.rateLimitWindowSeconds } : null;
}

export function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}
