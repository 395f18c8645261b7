export { AuthService, type TokenPair, type AuthOptions, type EnsuredOperator } from './service.js';
export { SigningKeyRing, SIGNING_ALG } from './keys.js';
export { AccessTokens, ACCESS_TOKEN_TYP } from './tokens.js';
export { ExternalIdentityVerifier } from './external.js';
export { authRoutes } from './routes.js';
export { credentialResolver } from './credentials.js';
export { authErrors } from './errors.js';
