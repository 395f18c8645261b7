import type { AppError } from './errors.js';

/**
 * Bounds the costly work a client causes with credentials this process has not seen
 * good: an API key's database look-up, an access token's signature check. deps.ts wires
 * it to a per-address bucket (http/rate-limit-hook.ts unknownCredentialGuard).
 * A credential that turns out good gives its point back, so only bad ones are spent.
 */
export interface CredentialGuard {
  /** Takes a point before the costly check; the refusal when the client has none left, else null. */
  take(client: string): Promise<AppError | null>;
  /** The credential was good: its point goes back. */
  giveBack(client: string): Promise<void>;
}
