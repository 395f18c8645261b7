import type { Db, Executor } from '../../db/client.js';
import { inSystem } from '../../db/scope.js';
import { TtlCache } from '../../lib/cache.js';
import type { Change } from '../../lib/changes.js';
import type { Clock } from '../../lib/clock.js';
import { checkUnderGuard, type CredentialGuard } from '../../lib/credential-guard.js';
import { AppError } from '../../lib/errors.js';
import type { Principal } from '../../lib/principal.js';
import { err, ok, type Result } from '../../lib/result.js';
import { constantTimeEqual, sha256Hex } from '../../lib/secrets.js';
import { keyStatus, parseKey } from './format.js';
import * as repo from './repo.js';
import { rateLimitOf } from './service.js';
import type { LastUsedBuffer } from './usage.js';

/** How long a key that resolved here skips the look-up guard after its last look-up. */
const KNOWN_KEY_TTL_MS = 24 * 3600_000;

/** What the hot path needs to know about a key, cached by the key's hash. */
interface KeyRecord {
  id: string;
  keyHash: string;
  tenantId: string | null;
  scopes: readonly string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  graceUntil: Date | null;
  rateLimit: { limit: number; windowSeconds: number } | null;
  usageCap: number | null;
  /** An API key's lineage (its first key's id); a service key's own id. */
  lineageId: string;
  /** The tenant's generation (an API key) or the service key's, when the row was read. */
  generation: number;
}

/**
 * Turns a `tg_`/`tgs_` key into a principal. The checksum is verified before anything
 * else, so a mistyped or guessed key never reaches the database; a real key is found by
 * its SHA-256, cached, and evicted as soon as a revocation or rotation is announced.
 */
export class KeyResolver {
  private readonly cache: TtlCache<string, KeyRecord>;
  /**
   * Hashes of well-formed keys no row has (another deployment's key, a made-up one): a
   * client stuck on one costs a look-up per TTL, not one per call. Keys are drawn at
   * random when issued, so a key unknown now does not become known later.
   */
  private readonly unknown: TtlCache<string, true>;
  /**
   * Hashes of keys that have resolved to a row here: a key in use is looked up again
   * whenever its cache entry lapses (30 s), and that look-up is never held up by the
   * guard, whatever other clients of the same address have spent. A hash gets here
   * only by presenting a real key.
   */
  private readonly known: TtlCache<string, true>;

  constructor(
    private readonly db: Db, private readonly clock: Clock, private readonly usage: LastUsedBuffer, cacheTtlMs: number,
    private readonly guard?: CredentialGuard,
  ) {
    const now = () => clock.now().getTime();
    this.cache = new TtlCache({ ttlMs: cacheTtlMs, maxEntries: 50_000, now, refreshAhead: true });
    this.unknown = new TtlCache({ ttlMs: cacheTtlMs, maxEntries: 10_000, now });
    this.known = new TtlCache({ ttlMs: KNOWN_KEY_TTL_MS, maxEntries: 100_000, now });
  }

  /** `client`: who presents the key (an address), for the guard; absent in-process. */
  async resolve(key: string, client?: string): Promise<Principal> {
    const kind = parseKey(key);
    if (!kind) throw new AppError('UNAUTHENTICATED', 'the key is malformed or its checksum does not match');
    const keyHash = sha256Hex(key);
    if (this.unknown.get(keyHash)) throw new AppError('UNAUTHENTICATED');
    // Concurrent calls with one key from one client share one look-up (and one point of its
    // guard); another client's look-up is its own, charged to it.
    const record = await this.cache.load(keyHash, () => this.lookupFor(client, kind, keyHash), `${client ?? ''}\u0000${keyHash}`);
    if (!record) this.unknown.set(keyHash, true);
    if (!record || !constantTimeEqual(record.keyHash, keyHash)) throw new AppError('UNAUTHENTICATED');
    const now = this.clock.now();
    const status = keyStatus(record, now);
    if (status === 'revoked' || status === 'expired') throw new AppError('UNAUTHENTICATED', `the key is ${status}`);
    this.usage.record(record.tenantId ? 'api_keys' : 'service_keys', record.id, now);
    return principalOf(record);
  }

  /**
   * The key behind a principal read afresh (and its cached record dropped): the decision
   * calls it when the database said the state it was decided on is stale. A key revoked
   * or expired since is refused; else the principal as the row stands now.
   */
  async current(principal: Principal): Promise<Principal> {
    if (principal.type === 'user') return principal;
    this.cache.deleteWhere((record) => record.id === principal.keyId);
    const record = await inSystem(this.db, async (tx) => {
      if (principal.type === 'service') return serviceRecord(await repo.findServiceKey(tx, principal.keyId));
      return apiKeyRecord(await repo.findApiKeyStamped(tx, principal.tenantId, principal.keyId));
    });
    const status = record && keyStatus(record, this.clock.now());
    if (!record || status === 'revoked' || status === 'expired') throw new AppError('UNAUTHENTICATED', `the key is ${status ?? 'gone'}`);
    const current = principalOf(record);
    return principal.type === 'service' && principal.onBehalfOf && current.type === 'service' ? { ...current, onBehalfOf: principal.onBehalfOf } : current;
  }

  /**
   * Whether the key behind a principal is still usable, read now in the caller's
   * transaction: the decision's last word on revocation, whatever the cache says.
   */
  async stillValid(tx: Executor, principal: Principal): Promise<boolean> {
    if (principal.type === 'user') return true;
    const now = this.clock.now();
    if (principal.type === 'service') {
      const row = await repo.findServiceKey(tx, principal.keyId);
      return row !== undefined && row.revokedAt === null;
    }
    const row = await repo.findApiKey(tx, principal.tenantId, principal.keyId);
    const status = row && keyStatus(row, now);
    return status !== undefined && status !== 'revoked' && status !== 'expired';
  }

  forget(change: Change): void {
    if (change.kind === 'api_key' || change.kind === 'service_key') this.cache.deleteWhere((record) => record.id === change.id);
    else if (change.kind === 'all') {
      this.cache.clear();
      this.unknown.clear();
    }
  }

  /**
   * A look-up a client causes. For a key not known here it takes a point of the client's
   * guard first (refused, before the database is asked, when none is left) and gives it
   * back when the key is found: only look-ups that find nothing are spent.
   */
  private async lookupFor(client: string | undefined, kind: 'tg' | 'tgs', keyHash: string): Promise<KeyRecord | undefined> {
    const guard = this.known.get(keyHash) ? undefined : this.guard;
    const record = await checkUnderGuard(guard, client, () => this.lookup(kind, keyHash), (found) => found !== undefined);
    if (record) this.known.set(keyHash, true);
    return record;
  }

  private lookup(kind: 'tg' | 'tgs', keyHash: string): Promise<KeyRecord | undefined> {
    return inSystem(this.db, async (tx) => kind === 'tgs'
      ? serviceRecord(await repo.findServiceKeyByHash(tx, keyHash))
      : apiKeyRecord(await repo.findApiKeyByHash(tx, keyHash)));
  }
}

function serviceRecord(row: repo.ServiceKeyRow | undefined): KeyRecord | undefined {
  return row && {
    id: row.id, keyHash: row.keyHash, tenantId: null, scopes: [], expiresAt: null, revokedAt: row.revokedAt,
    graceUntil: null, rateLimit: null, usageCap: null, lineageId: row.id, generation: row.generation,
  };
}

function apiKeyRecord(row: (repo.ApiKeyRow & { generation: number }) | undefined): KeyRecord | undefined {
  return row && {
    id: row.id, keyHash: row.keyHash, tenantId: row.tenantId, scopes: row.scopes, expiresAt: row.expiresAt,
    revokedAt: row.revokedAt, graceUntil: row.graceUntil, rateLimit: rateLimitOf(row), usageCap: row.usageCap, lineageId: row.lineageId, generation: row.generation,
  };
}

function principalOf(record: KeyRecord): Principal {
  if (record.tenantId === null) return { type: 'service', keyId: record.id, generation: record.generation };
  return {
    type: 'api_key', keyId: record.id, tenantId: record.tenantId, scopes: record.scopes, rateLimit: record.rateLimit,
    usageCap: record.usageCap, lineageId: record.lineageId, generation: record.generation,
  };
}

export interface OnBehalfOf { tenantId: string; userId: string }

const ON_BEHALF_OF_HEADER = /^(tnt_[0-9A-Z]{26}):(usr_[0-9A-Z]{26})$/;

/** `Tollgate-On-Behalf-Of: <tenantId>:<userId>`. */
export function parseOnBehalfOfHeader(value: string): OnBehalfOf | null {
  const match = ON_BEHALF_OF_HEADER.exec(value.trim());
  return match ? { tenantId: match[1]!, userId: match[2]! } : null;
}

/**
 * Only a service key may act on behalf of a user; any other credential carrying
 * on-behalf-of is refused outright (the old "trust X-User-ID" hole). Whether the user
 * is an active member, and with which role, is decided by the tenant check the result
 * then goes through (TenancyService.checkTenant / access), like every other principal.
 */
export function resolveOnBehalfOf(principal: Principal, onBehalfOf: OnBehalfOf): Result<Principal, 'ON_BEHALF_OF_FORBIDDEN' | 'ON_BEHALF_OF_INVALID'> {
  if (principal.type !== 'service') return err('ON_BEHALF_OF_FORBIDDEN');
  const already = principal.onBehalfOf;
  if (already && (already.tenantId !== onBehalfOf.tenantId || already.userId !== onBehalfOf.userId)) return err('ON_BEHALF_OF_INVALID');
  return ok({ ...principal, onBehalfOf });
}

/** The Tollgate-On-Behalf-Of header applied to a resolved principal; refusals end the request. */
export function applyOnBehalfOfHeader(principal: Principal, header: string): Principal {
  if (principal.type !== 'service') throw new AppError('ON_BEHALF_OF_FORBIDDEN');
  const onBehalfOf = parseOnBehalfOfHeader(header);
  if (!onBehalfOf) throw new AppError('ON_BEHALF_OF_INVALID');
  return actingFor(principal, onBehalfOf);
}

/**
 * A body's `onBehalfOf` applied to the caller (the header's already is), by the same rule;
 * refusals end the request. Without one, the caller as it is.
 */
export function actingFor(principal: Principal, onBehalfOf: OnBehalfOf | undefined): Principal {
  if (!onBehalfOf) return principal;
  const acting = resolveOnBehalfOf(principal, onBehalfOf);
  if (!acting.ok) throw new AppError(acting.error);
  return acting.value;
}
