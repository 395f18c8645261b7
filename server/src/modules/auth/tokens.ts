import { SignJWT, jwtVerify, type JWTHeaderParameters } from 'jose';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { SIGNING_ALG, type SigningKeyRing } from './keys.js';

export const ACCESS_TOKEN_TYP = 'at+jwt';

export interface AccessTokenOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/** Headers that would make a verifier fetch or trust a key named by the token itself. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

/** Seconds an iat may lie ahead of this host's clock (hosts' clocks drift apart a little). */
export const IAT_LEEWAY_SECONDS = 30;

/**
 * A token claiming to be issued later than now (beyond the leeway) was not issued by an
 * honest clock: refused. jose checks iat only against a maximum age, and an iat ahead of
 * time would outlive a password reset's sign-out (sessionsValidAfter compares against it).
 */
export function issuedInFuture(iat: unknown, now: Date): boolean {
  return typeof iat === 'number' && iat > now.getTime() / 1000 + IAT_LEEWAY_SECONDS;
}

export function hasForbiddenHeader(header: Partial<JWTHeaderParameters>): boolean {
  return FORBIDDEN_HEADERS.some((name) => name in header);
}

/**
 * Tollgate's own access tokens: ES256, short-lived, typed at+jwt. They carry only the
 * subject; roles and tenant membership are read from the database on every request.
 */
export class AccessTokens {
  constructor(private readonly keys: SigningKeyRing, private readonly clock: Clock, private readonly options: AccessTokenOptions) {}

  /** Whether the key a token was verified with still verifies (AuthService asks it of the tokens it remembers). */
  keyStillUsable(kid: string): boolean {
    return this.keys.stillUsable(kid);
  }

  /** `issuedAt`: the grant's instant, read where the user's sessions were checked (AuthService); default now. */
  async issue(userId: string, issuedAt: Date = this.clock.now()): Promise<{ token: string; expiresIn: number }> {
    const { kid, key } = this.keys.signingKey();
    const nowMs = issuedAt.getTime();
    const now = Math.floor(nowMs / 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(userId)
      // To the millisecond (a NumericDate may be non-integer, RFC 7519 §2): a password
      // reset signs out a token issued earlier within its own second (sessionEnded).
      .setIssuedAt(nowMs / 1000)
      .setNotBefore(now)
      .setExpirationTime(now + this.options.ttlSeconds)
      .setJti(newId('rtk'))
      .sign(key);
    return { token, expiresIn: this.options.ttlSeconds };
  }

  /**
   * Verifies with pinned algorithm, issuer, audience and type; exp, nbf and iat are
   * required; exp equal to now is already expired, an iat in the future and a lifetime
   * beyond the configured one are refused. Keys come only from our own ring:
   * jku/x5u/jwk headers are refused, never followed. Returns the user id or null.
   */
  async verify(token: string): Promise<{ userId: string; expiresAt: number; issuedAt: number; kid: string } | null> {
    try {
      const { payload, protectedHeader } = await jwtVerify(token, async (header) => {
        if (hasForbiddenHeader(header) || !header.kid) throw new Error('forbidden header');
        const key = await this.keys.verificationKey(header.kid);
        if (!key) throw new Error('unknown kid');
        return key;
      }, {
        algorithms: [SIGNING_ALG],
        issuer: this.options.issuer,
        audience: this.options.audience,
        typ: ACCESS_TOKEN_TYP,
        requiredClaims: ['sub', 'exp', 'nbf', 'iat'],
        currentDate: this.clock.now(),
        clockTolerance: 0,
      });
      if (typeof payload.sub !== 'string' || !payload.sub.startsWith('usr_') || issuedInFuture(payload.iat, this.clock.now())) return null;
      // No token of ours lives longer than the configured lifetime (iat is to the
      // millisecond, exp to the second): a longer one was not issued here.
      if (payload.exp! - payload.iat! > this.options.ttlSeconds) return null;
      return { userId: payload.sub, expiresAt: payload.exp!, issuedAt: payload.iat!, kid: protectedHeader.kid! };
    } catch {
      return null;
    }
  }
}
