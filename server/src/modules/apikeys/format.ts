import { crc32 } from '../../lib/crc32.js';
import { randomBase62 } from '../../lib/secrets.js';

/** `tg_` keys belong to a tenant; `tgs_` keys are operator-issued service keys. */
export type KeyKind = 'tg' | 'tgs';

const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_PATTERN = new RegExp(`^(tgs?)_([0-9A-Za-z]{${RANDOM_LENGTH}})([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`);

/** CRC-32 of everything before it, in base62: 62^6 > 2^32, so six characters always suffice. */
function checksum(text: string): string {
  let value = crc32(text);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** `<kind>_<32 random base62 (190 bits)><6-char checksum>`. */
export function generateKey(kind: KeyKind): string {
  const body = `${kind}_${randomBase62(RANDOM_LENGTH)}`;
  return body + checksum(body);
}

/**
 * The kind of a well-formed key whose checksum holds, else null. Typos, truncations and
 * random guesses end here, before any database lookup.
 */
export function parseKey(text: string): KeyKind | null {
  const match = KEY_PATTERN.exec(text);
  if (!match) return null;
  return checksum(`${match[1]}_${match[2]}`) === match[3] ? match[1] as KeyKind : null;
}

export function looksLikeKey(text: string): boolean {
  return text.startsWith('tg_') || text.startsWith('tgs_');
}

/** What may be shown again later: enough to recognise a key, far too little to use it. */
export function displayParts(key: string): { prefix: string; lastFour: string } {
  const cut = key.indexOf('_') + 5; // the kind and four random characters
  return { prefix: key.slice(0, cut), lastFour: key.slice(-4) };
}

export type KeyStatus = 'active' | 'rotating' | 'expired' | 'revoked';

/** A rotated key is `rotating` until its grace ends; only active and rotating keys authenticate. */
export function keyStatus(key: { revokedAt: Date | null; expiresAt: Date | null; graceUntil: Date | null }, now: Date): KeyStatus {
  if (key.revokedAt) return 'revoked';
  const passed = (at: Date | null) => at !== null && at.getTime() <= now.getTime();
  if (passed(key.expiresAt) || passed(key.graceUntil)) return 'expired';
  return key.graceUntil ? 'rotating' : 'active';
}
