/** A member's role in a tenant (tenancy owns memberships; the principal carries the role it found). */
export type Role = 'owner' | 'admin' | 'member';

/** Who is calling, as established from a verified credential. Never from a client field. */
export type Principal =
  | {
    type: 'user'; userId: string; credential: 'access_token' | 'external_jwt';
    /** When Tollgate's own access token was issued (its iat, seconds to the millisecond): a password reset signs out what came before. */
    issuedAt?: number;
  }
  | {
    type: 'api_key'; keyId: string; tenantId: string; scopes: readonly string[];
    /** The key's own limits, for the rate limiter and the decision to enforce. */
    rateLimit?: { limit: number; windowSeconds: number } | null; usageCap?: number | null;
    /** The first key of its rotations: its usage cap and its own rate bucket are the lineage's, not each key's. */
    lineageId: string;
    /** The tenant's generation when the key's row was read: what the decision's stamp compares (migration 0009). */
    generation?: number;
  }
  | {
    type: 'service'; keyId: string; onBehalfOf?: { tenantId: string; userId: string };
    /** The service key's generation when its row was read. */
    generation?: number;
  };

export type UserPrincipal = Extract<Principal, { type: 'user' }>;

/** The id a principal is known by (rateLimits.bypassPrincipals lists these): a user's, else its key's. */
export function principalId(principal: Principal): string {
  return principal.type === 'user' ? principal.userId : principal.keyId;
}

/** What a principal may do inside one tenant, read from the database at decision time. */
export interface TenantAccess {
  tenantId: string;
  /** The member's role; null for an API key (keys act for the tenant, not as a member). */
  role: Role | null;
  userId: string | null;
  principal: Principal;
}

/** Context every state-changing service call carries for its audit entry. */
export interface CallContext {
  requestId?: string | undefined;
}
