import { randomBytes } from 'node:crypto';

/**
 * A tenant's external ID, the platform's (migration 0030): `tg-` and 128 random bits. Made
 * by the platform, not chosen by the tenant — AWS's guidance against the confused deputy:
 * a tenant that could choose the external ID could choose (or guess) another tenant's.
 */
export function newExternalId(): string {
  return `tg-${randomBytes(16).toString('hex')}`;
}

/** The longest external ID a route's PUT may add: STS takes 1224 characters, the platform's and the colon come first. */
export const GIVEN_EXTERNAL_ID_MAX = 1224 - 'tg-:'.length - 32;

/**
 * The ExternalId STS gets for a Bedrock route: the tenant's own (the platform's), followed
 * by `:` and the one the route's PUT gave, if it gave one. The platform's has no colon and
 * one length, so no tenant can send a value that starts with another tenant's. A route
 * stored before 0030 (`legacy`) sends the one its PUT gave, alone, until it is replaced.
 */
export function stsExternalId(tenants: string, given: string, legacy: boolean): string {
  if (legacy) return given;
  return given === '' ? tenants : `${tenants}:${given}`;
}
