import { randomFillSync } from 'node:crypto';

// Crockford base32: sortable, case-insensitive, no ambiguous letters.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export type IdPrefix =
  | 'usr' | 'tnt' | 'inv' | 'aud' | 'rtk' | 'prt' | 'kid' | 'key' | 'svc'
  | 'res' | 'dec' | 'led' | 'evt' | 'sub' | 'pay' | 'usg'
  // Webhooks: an endpoint, an outbox event (the webhook-id of its deliveries), a delivery.
  | 'whk' | 'msg' | 'dlv'
  // A write of the decision log's day counts (gate/log.ts).
  | 'dcf';

/** A prefixed id whose first 10 characters encode the creation time, so ids sort by age. */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  // Written into one reused buffer and read out as one string: a decision makes several
  // ids, and building each a character at a time made two dozen strings for the collector.
  let t = now;
  for (let i = 9; i >= 0; i--) {
    scratch[i] = CHARS[t % 32]!;
    t = Math.floor(t / 32);
  }
  for (let i = 10; i < 26; i++) scratch[i] = CHARS[randomByte() % 32]!;
  return `${prefix}_${scratch.toString('latin1', 0, 26)}`;
}

/** The smallest id `newId(prefix, at)` can make: every id made before `at` sorts below it. */
export function firstIdAt(prefix: IdPrefix, at: number): string {
  // newId's prefix and time, its random part at its lowest.
  return `${newId(prefix, at).slice(0, prefix.length + 11)}${'0'.repeat(16)}`;
}

const CHARS = Buffer.from(ALPHABET, 'latin1');
const scratch = Buffer.alloc(26);

// Random bytes drawn from the CSPRNG a pool at a time: one call per 256 ids, not one per id.
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

function randomByte(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++]!;
}

export const ID_PATTERN = '^[a-z]{3}_[0-9A-Z]{26}$';
