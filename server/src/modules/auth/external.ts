import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { IdentityProviderConfig } from '../../config-schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { hasForbiddenHeader, issuedInFuture } from './tokens.js';

export interface ExternalIdentity {
  provider: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  /** Whether the provider's config lets a first sign-in create the user. */
  autoProvision: boolean;
  /** The token's exp (epoch seconds): how long its verification may be cached. */
  expiresAt: number;
}

interface Verifier {
  config: IdentityProviderConfig;
  key: Uint8Array | JWTVerifyGetKey;
  algorithms: string[];
}

/**
 * Verifies JWTs of configured identity providers (Supabase, Auth0, Clerk…). The provider
 * is chosen by the token's issuer, then everything is checked against that provider's own
 * keys, algorithms and audience. JWKS URLs come from the config, never from the token.
 */
export class ExternalIdentityVerifier {
  private readonly byIssuer = new Map<string, Verifier>();

  constructor(providers: readonly IdentityProviderConfig[], private readonly clock: Clock) {
    for (const config of providers) {
      const key = config.secret
        ? new TextEncoder().encode(config.secret)
        : createRemoteJWKSet(new URL(config.jwksUrl!), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: config.jwksTimeoutMs });
      const algorithms = config.algorithms ?? (config.secret ? ['HS256'] : ['RS256', 'ES256']);
      this.byIssuer.set(config.issuer, { config, key, algorithms });
    }
  }

  handles(issuer: string | undefined): boolean {
    return issuer !== undefined && this.byIssuer.has(issuer);
  }

  /**
   * The identity of a good token, null for a bad one. A provider whose keys cannot be
   * fetched (unreachable, slow, not answering 200 with a key set) is no verdict on the
   * token: that is IDENTITY_PROVIDER_UNAVAILABLE (503), for the client to try again,
   * not a 401 that would sign its user out.
   */
  async verify(token: string, issuer: string): Promise<ExternalIdentity | null> {
    const verifier = this.byIssuer.get(issuer);
    if (!verifier) return null;
    try {
      if (hasForbiddenHeader(decodeProtectedHeader(token))) return null;
      const options = {
        algorithms: verifier.algorithms, issuer: verifier.config.issuer, audience: verifier.config.audience,
        requiredClaims: ['exp'], currentDate: this.clock.now(), clockTolerance: 0,
      };
      const { payload } = typeof verifier.key === 'function'
        ? await jwtVerify(token, verifier.key, options)
        : await jwtVerify(token, verifier.key, options);
      return this.identity(verifier.config, payload);
    } catch (error) {
      if (typeof verifier.key === 'function' && keysUnavailable(error)) {
        throw new AppError('IDENTITY_PROVIDER_UNAVAILABLE', `the signing keys of identity provider "${verifier.config.name}" could not be fetched`);
      }
      return null;
    }
  }

  private identity(config: IdentityProviderConfig, payload: JWTPayload): ExternalIdentity | null {
    const subject = payload[config.claims.subject];
    if (typeof subject !== 'string' || subject.length === 0 || typeof payload.exp !== 'number' || issuedInFuture(payload.iat, this.clock.now())) return null;
    const email = payload[config.claims.email];
    const name = config.claims.name ? payload[config.claims.name] : undefined;
    return {
      provider: config.name,
      autoProvision: config.autoProvision,
      subject,
      email: typeof email === 'string' ? email : null,
      emailVerified: payload.email_verified === true,
      name: typeof name === 'string' ? name : null,
      expiresAt: payload.exp,
    };
  }
}

/**
 * Errors of fetching a key set rather than of the token: a timeout, a response that is
 * not a key set (jose's generic error: not 200, not JSON), or no JOSE error at all (the
 * fetch itself failed). A key id the set lacks is the token's fault (jose refetches the
 * set for it first).
 */
function keysUnavailable(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.code === 'ERR_JOSE_GENERIC';
}
