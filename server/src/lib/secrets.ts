import {
  createCipheriv, createDecipheriv, createHash, hash, randomBytes, scrypt as scryptCb, timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (
  password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform base62 string from the CSPRNG (rejection sampling, no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** One-shot: a third of createHash's cost for a short string (an API key on every call). */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Password hash in a self-describing format so the cost can be raised later without a migration. */
export async function hashPassword(password: string, cost: number): Promise<string> {
  const salt = randomBytes(16);
  const N = 2 ** cost;
  const hash = await scrypt(password.normalize('NFKC'), salt, 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 });
  return `scrypt$${cost}$8$1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, costText, r, p, saltText, hashText] = stored.split('$');
  if (scheme !== 'scrypt' || !costText || !saltText || !hashText) return false;
  const N = 2 ** Number(costText);
  const expected = Buffer.from(hashText, 'base64');
  const actual = await scrypt(password.normalize('NFKC'), Buffer.from(saltText, 'base64'), expected.length, {
    N, r: Number(r), p: Number(p), maxmem: 256 * N * Number(r),
  });
  return timingSafeEqual(actual, expected);
}

function open(key: Buffer, iv: string, tag: string, body: string, context: string): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
  if (context) decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
}

/** Derives a 32-byte key from the configured master secret, one per purpose. */
export function deriveKey(masterSecret: string, purpose: string): Buffer {
  return createHash('sha256').update(`tollgate:${purpose}:`).update(masterSecret).digest();
}

/** A sealed value could not be opened: sealed under a master secret this process is not given, or altered. */
export class UnsealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsealError';
  }
}

/**
 * Secrets at rest (signing keys, tenants' provider secrets): AES-256-GCM under a key
 * derived from the master secret (TOLLGATE_SECRET_KEY) for one purpose. A sealed value
 * says which key sealed it (`v2.<keyId>.<nonce>.<tag>.<ciphertext>`; the key id is a
 * fingerprint of the derived key, never the key) and is bound to its `context` (the row
 * it belongs to, as GCM additional data): copied into another row it does not open.
 * During a rotation of the master secret the old one is configured as previous
 * (TOLLGATE_SECRET_KEY_PREVIOUS): values sealed under it still open, and
 * `tollgate secrets reseal` seals them again under the current one.
 */
export class Sealer {
  readonly keyId: string;
  private readonly keys = new Map<string, Buffer>();
  private readonly current: Buffer;
  private readonly all: Buffer[];

  constructor(purpose: string, masterSecret: string, previous: readonly string[] = []) {
    this.all = [masterSecret, ...previous].map((secret) => deriveKey(secret, purpose));
    this.current = this.all[0]!;
    for (const key of this.all) this.keys.set(keyIdOf(key), key);
    this.keyId = keyIdOf(this.current);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v2', this.keyId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  /** The plaintext; an UnsealError (naming no part of the value) when no configured key opens it. */
  unseal(sealed: string, context: string): string {
    const parts = sealed.split('.');
    const candidates = parts[0] === 'v1' ? this.all : parts[0] === 'v2' && this.keys.has(parts[1]!) ? [this.keys.get(parts[1]!)!] : [];
    if (candidates.length === 0) throw new UnsealError(`sealed under key ${parts[0] === 'v2' ? parts[1] : '(unknown)'}, which is neither the current master secret's nor a previous one's`);
    const [iv, tag, body] = parts[0] === 'v1' ? parts.slice(1) : parts.slice(2);
    if (!iv || !tag || !body) throw new UnsealError('not a sealed value');
    for (const key of candidates) {
      try {
        return open(key, iv, tag, body, parts[0] === 'v1' ? '' : context);
      } catch {
        // the next key, if any
      }
    }
    throw new UnsealError('the sealed value does not open under its key: altered, or moved from another row');
  }

  /** Whether a sealed value is under another key than the current one (or in the old format). */
  stale(sealed: string): boolean {
    return !sealed.startsWith(`v2.${this.keyId}.`);
  }

  /** The value sealed again under the current key, or null when it already is (`tollgate secrets reseal`). */
  resealed(sealed: string, context: string): string | null {
    return this.stale(sealed) ? this.seal(this.unseal(sealed, context), context) : null;
  }
}

function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('tollgate:key-id:').update(key).digest('hex').slice(0, 12);
}
