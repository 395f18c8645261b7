import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Db, Tx } from '../../db/client.js';
import { lockKey } from '../../db/locks.js';
import { inSystem } from '../../db/scope.js';
import { Periodic } from '../../lib/periodic.js';
import { DAY_MS, type Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import type { Sealer } from '../../lib/secrets.js';
import * as repo from './repo.js';

export const SIGNING_ALG = 'ES256';

interface LoadedKey {
  kid: string;
  publicKey: CryptoKey;
  publicJwk: JWK;
  privateKey: CryptoKey | null;
  createdAt: Date;
  retiredAt: Date | null;
}

export interface KeyRingOptions {
  rotationDays: number;
  graceSeconds: number;
  /** Seals the private keys at rest (lib/secrets.ts). */
  sealer: Sealer;
}

/**
 * The server's JWT signing keys. One active key signs; retired keys keep verifying
 * (and stay in the JWKS) for the grace period, so rotation never logs anyone out.
 * Private keys are stored sealed with AES-256-GCM.
 */
export class SigningKeyRing {
  private keys: LoadedKey[] = [];
  private lastReload = 0;
  private reloading: Promise<void> | undefined;
  private ticker: Periodic | undefined;

  constructor(private readonly db: Db, private readonly clock: Clock, private readonly options: KeyRingOptions) {}

  /** Loads the keys, creating or rotating the active one when it is missing or too old. */
  init(): Promise<void> {
    return this.refresh();
  }

  /**
   * Re-reads the ring (another process may have rotated: this one must stop signing with
   * the retired key) and rotates when the active key is too old. Runs on an interval.
   */
  async refresh(): Promise<void> {
    await this.reload();
    await this.rotateIfDue();
  }

  private due(): boolean {
    const active = this.active();
    return !active || this.clock.now().getTime() - active.createdAt.getTime() >= this.options.rotationDays * DAY_MS;
  }

  private async rotateIfDue(): Promise<void> {
    if (this.due()) await this.rotate(undefined, { onlyIfDue: true });
  }

  start(intervalMs: number, onError: (error: unknown) => void): void {
    this.ticker ??= new Periodic(() => this.refresh(), onError);
    this.ticker.start(intervalMs);
  }

  async stop(): Promise<void> {
    await this.ticker?.stop(false);
  }

  /** Retires the active key and creates a new one; `inTx` writes the audit entry in the same transaction. */
  async rotate(inTx?: (tx: Tx, kid: string) => Promise<void>, options: { onlyIfDue?: boolean } = {}): Promise<string> {
    const now = this.clock.now();
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const kid = newId('kid', now.getTime());
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALG, use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG };
    const rotated = await inSystem(this.db, async (tx) => {
      // Processes booting or refreshing together rotate once: the lock serialises them and
      // the loser sees the winner's fresh key.
      await lockKey(tx, 'platform', 'signing-key-rotation');
      if (options.onlyIfDue) {
        const active = (await repo.listSigningKeys(tx)).find((k) => k.retiredAt === null);
        if (active && now.getTime() - active.createdAt.getTime() < this.options.rotationDays * DAY_MS) return false;
      }
      await repo.retireActiveKeys(tx, now);
      await repo.insertSigningKey(tx, {
        kid, alg: SIGNING_ALG, publicJwk, privateJwkSealed: this.options.sealer.seal(JSON.stringify(privateJwk), sealContext(kid)),
        createdAt: now, retiredAt: null,
      });
      if (inTx) await inTx(tx, kid);
      return true;
    });
    await this.reload();
    return rotated ? kid : this.active()!.kid;
  }

  async reload(): Promise<void> {
    const rows = await inSystem(this.db, (tx) => repo.listSigningKeys(tx));
    const loaded: LoadedKey[] = [];
    for (const row of rows) {
      const publicJwk = row.publicJwk as JWK;
      loaded.push({
        kid: row.kid,
        publicJwk,
        publicKey: (await importJWK(publicJwk, row.alg)) as CryptoKey,
        privateKey: row.retiredAt ? null : (await importJWK(JSON.parse(this.unseal(row.kid, row.privateJwkSealed)) as JWK, row.alg)) as CryptoKey,
        createdAt: row.createdAt,
        retiredAt: row.retiredAt,
      });
    }
    this.keys = loaded;
    this.lastReload = this.clock.now().getTime();
  }

  private unseal(kid: string, sealed: string): string {
    try {
      return this.options.sealer.unseal(sealed, sealContext(kid));
    } catch {
      throw new Error(`cannot unseal signing key ${kid}: this database's keys were sealed with another TOLLGATE_SECRET_KEY ` +
        '(every process sharing a database must use the same secret; during a rotation, set the old one as TOLLGATE_SECRET_KEY_PREVIOUS)');
    }
  }

  /**
   * Seals every private key still kept under the current master secret (`tollgate secrets
   * reseal`, after a rotation of TOLLGATE_SECRET_KEY); `inTx` writes the audit entry in the
   * same transaction. Answers how many were sealed again.
   */
  async reseal(inTx?: (tx: Tx, count: number) => Promise<void>): Promise<number> {
    return inSystem(this.db, async (tx) => {
      await lockKey(tx, 'platform', 'signing-key-rotation');
      let count = 0;
      for (const row of await repo.listSigningKeys(tx)) {
        if (!this.options.sealer.stale(row.privateJwkSealed)) continue;
        const plaintext = this.unseal(row.kid, row.privateJwkSealed);
        await repo.setSealedPrivateKey(tx, row.kid, this.options.sealer.seal(plaintext, sealContext(row.kid)));
        count++;
      }
      if (inTx) await inTx(tx, count);
      return count;
    });
  }

  active(): LoadedKey | undefined {
    return this.keys.find((k) => k.retiredAt === null && k.privateKey);
  }

  signingKey(): { kid: string; key: CryptoKey } {
    const active = this.active();
    if (!active?.privateKey) throw new Error('no active signing key');
    return { kid: active.kid, key: active.privateKey };
  }

  private usable(key: LoadedKey): boolean {
    if (!key.retiredAt) return true;
    return this.clock.now().getTime() < key.retiredAt.getTime() + this.options.graceSeconds * 1000;
  }

  /**
   * Whether a key this ring verified a token with still verifies: a token checked once is
   * remembered (AuthService), and must die with its key's grace, as an unseen one would.
   */
  stillUsable(kid: string): boolean {
    const key = this.keys.find((k) => k.kid === kid);
    return key !== undefined && this.usable(key);
  }

  /** Public keys still valid for verification: the active one and those within grace. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.filter((k) => this.usable(k)).map((k) => k.publicJwk) };
  }

  /**
   * The verification key for a kid. Another process may have rotated: an unknown kid
   * that sorts after every kid we know (kids are time-ordered ids) triggers a reload,
   * others only once a second, and concurrent reloads share one query, so forged kids
   * cannot hammer the database.
   */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    let key = this.keys.find((k) => k.kid === kid);
    if (!key) {
      const newest = this.keys.reduce((max, k) => (k.kid > max ? k.kid : max), '');
      const sinceReload = this.clock.now().getTime() - this.lastReload;
      if ((kid > newest && sinceReload > 100) || sinceReload > 1000) {
        this.reloading ??= this.reload().finally(() => { this.reloading = undefined; });
        await this.reloading;
        key = this.keys.find((k) => k.kid === kid);
      }
    }
    return key && this.usable(key) ? key.publicKey : undefined;
  }
}

/** What a sealed private key is bound to: its own key id. */
function sealContext(kid: string): string {
  return `signing-key:${kid}`;
}
