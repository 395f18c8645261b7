import { loadConfig, type Config } from './config.js';
import { databaseFailure } from './db/errors.js';
import { createDeps, startSweeper, startWebhookDispatcher, type Deps, type DepsOverrides } from './deps.js';
import { malformedText, textFault } from './http/text-guard.js';
import type { Metering } from './modules/metering/index.js';
import { checkAuthorizeRequest, type AuthorizeContext, type AuthorizeRequest, type Decision } from './modules/gate/index.js';
import type { ProviderCredentialsView } from './modules/routing/index.js';
import type { UsageDay } from './modules/usage/index.js';

/** Tollgate embedded in a Node app: the same calls the HTTP routes make, without HTTP. */
export interface EmbeddedTollgate extends Metering {
  readonly deps: Deps;
  /**
   * The decision in-process: the same credential resolution and checks as POST
   * /v1/authorize. `credential` is what the HTTP caller would send as its Bearer token.
   */
  authorize(credential: string, request: AuthorizeRequest, ctx?: AuthorizeContext): Promise<Decision>;
  /**
   * The credentials of the route an admitted decision named, as POST
   * /v1/routes/credentials answers them: `credential` is a service key or an API key with
   * scope `credentials` of the decision's tenant.
   */
  providerCredentials(credential: string, decisionId: string, ctx?: { requestId?: string }): Promise<ProviderCredentialsView>;
  /**
   * A tenant's usage per UTC day, as GET …/usage/summary answers it (`from`, `to`:
   * YYYY-MM-DD, or an RFC 3339 date-time naming the UTC day it falls in; the last 30 days by default).
   */
  usageSummary(tenantId: string, range?: { from?: string; to?: string }): Promise<{ days: UsageDay[] }>;
  close(): Promise<void>;
}

/**
 * `const tollgate = await createTollgate(loadConfig())` wires everything the server
 * would (database, migrations, services) and returns the metering core.
 */
export async function createTollgate(config: Config = loadConfig(), overrides: DepsOverrides = {}): Promise<EmbeddedTollgate> {
  const deps = await createDeps(config, overrides);
  // As in the server: unsettled reservations expire and ended periods roll over on their own.
  const sweeper = startSweeper(deps);
  // And the webhook outbox is delivered.
  const dispatcher = startWebhookDispatcher(deps);
  return withDatabaseFailures(Object.assign(deps.metering, {
    deps,
    // The body the route would refuse is refused here too, after the credential as there (401 before 400).
    authorize: async (credential: string, request: AuthorizeRequest, ctx: AuthorizeContext = {}) =>
      deps.gate.authorize(await deps.resolveCredential(credential), checkAuthorizeRequest(request), ctx),
    providerCredentials: async (credential: string, decisionId: string, ctx: { requestId?: string } = {}) =>
      deps.providerCredentials.forDecision(await deps.resolveCredential(credential), decisionId, ctx),
    usageSummary: async (tenantId: string, range: { from?: string; to?: string } = {}) => deps.usage.summary(tenantId, range),
    close: async () => {
      await sweeper.stop(false);
      await dispatcher.stop(false);
      await deps.close();
    },
  }));
}

/**
 * Every call that returns a promise rejects on a database outage or pile-up with the
 * AppError an HTTP caller gets as its 503 (`DATABASE_UNAVAILABLE`, `DATABASE_BUSY`, with
 * `details.retryAfterMs`; the driver's error as its cause), so an embedding app tells
 * "try again in a second" from a bug without knowing the driver's error codes. And text
 * the database cannot hold (a NUL character, a lone UTF-16 surrogate) in any argument is
 * refused before the call, with the `MALFORMED_TEXT` an HTTP caller gets at the edge:
 * in-process there is no edge, and the decision's batch would refuse it with the driver's
 * error.
 */
function withDatabaseFailures<T extends object>(tollgate: T): T {
  const translate = (error: unknown): never => {
    throw databaseFailure(error) ?? error;
  };
  return new Proxy(tollgate, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      const returnsPromise = value.constructor.name === 'AsyncFunction';
      return (...args: unknown[]) => {
        const fault = textFault(args, 'arguments');
        if (fault) {
          if (returnsPromise) return Promise.reject(malformedText(fault));
          throw malformedText(fault);
        }
        const result: unknown = value.apply(target, args);
        return result instanceof Promise ? result.catch(translate) : result;
      };
    },
  });
}
