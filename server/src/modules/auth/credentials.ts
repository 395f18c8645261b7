import type { CredentialResolver } from '../../http/auth-hook.js';
import { AppError } from '../../lib/errors.js';
import type { Principal } from '../../lib/principal.js';
import { applyOnBehalfOfHeader, looksLikeKey, type KeyResolver } from '../apikeys/index.js';
import type { AuthService } from './service.js';

/**
 * The one path every credential type takes: a `tg_`/`tgs_` key, else a JWT (Tollgate's
 * own or a configured provider's), then the on-behalf-of header, which only a service
 * key may carry. Anything else is no credential.
 */
export function credentialResolver(keys: KeyResolver, auth: AuthService): CredentialResolver {
  return async (bearer, onBehalfOf, client) => {
    let principal: Principal;
    if (looksLikeKey(bearer)) principal = await keys.resolve(bearer, client);
    else if (bearer.split('.').length === 3) principal = await auth.resolveJwt(bearer, client);
    else throw new AppError('UNAUTHENTICATED');
    return onBehalfOf === undefined ? principal : applyOnBehalfOfHeader(principal, onBehalfOf);
  };
}
