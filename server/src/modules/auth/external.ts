import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { IdentityProviderConfig } from '../../config-schema.js';
import type { Clock } from '../../lib/clock.js';
import { hasForbiddenHeader } from './tokens.js';

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
        : createRemoteJWKSet(new URL(config.jwksUrl!), { cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      const algorithms = config.algorithms ?? (config.secret ? ['HS256'] : ['RS256', 'ES256']);
      this.byIssuer.set(config.issuer, { config, key, algorithms });
    }
  }

  handles(issuer: string | undefined): boolean {
    return issuer !== undefined && this.byIssuer.has(issuer);
  }

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
    } catch {
      return null;
    }
  }

  private identity(config: IdentityProviderConfig, payload: JWTPayload): ExternalIdentity | null {
    const subject = payload[config.claims.subject];
    if (typeof subject !== 'string' || subject.length === 0 || typeof payload.exp !== 'number') return null;
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
