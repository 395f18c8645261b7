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

/**
 * The costly check of a credential under the client's guard (none: in-process, or a
 * credential already seen good): a point first, the refusal thrown when none is left;
 * the point back when the check finds the credential `good`, or fails in a way that is
 * `notTheCredential`'s fault (a provider out of reach). Anything else keeps it.
 */
export async function checkUnderGuard<T>(
  guard: CredentialGuard | undefined, client: string | undefined, check: () => Promise<T>,
  good: (result: T) => boolean, notTheCredential: (error: unknown) => boolean = () => false,
): Promise<T> {
  if (!guard || client === undefined) return check();
  const refusal = await guard.take(client);
  if (refusal) throw refusal;
  let result: T;
  try {
    result = await check();
  } catch (error) {
    if (notTheCredential(error)) await guard.giveBack(client);
    throw error;
  }
  if (good(result)) await guard.giveBack(client);
  return result;
}
