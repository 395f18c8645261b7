import { randomFillSync } from 'node:crypto';

// Crockford base32: sortable, case-insensitive, no ambiguous letters.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export type IdPrefix =
  | 'usr' | 'tnt' | 'inv' | 'aud' | 'rtk' | 'prt' | 'kid' | 'key' | 'svc'
  | 'res' | 'dec' | 'led' | 'evt' | 'sub' | 'pay'
  // Webhooks: an endpoint, an outbox event (the webhook-id of its deliveries), a delivery.
  | 'whk' | 'msg' | 'dlv';

/** A prefixed id whose first 10 characters encode the creation time, so ids sort by age. */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[randomByte() % 32];
  return `${prefix}_${time}${rand}`;
}

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
