import type { PlatformRouteConfig } from '../../config-schema.js';
import { globMatch } from '../../lib/glob.js';
import type { Route } from './schemas.js';
import type { Provider } from './tables.js';

/** What the decision needs of a tenant's route (kept with the tenant's snapshot): never its secret. */
export interface RouteSummary {
  name: string;
  provider: Provider;
  region: string | null;
  models: readonly string[];
  enabled: boolean;
  /** Changes with every change of the route (migration 0032). */
  revision: string;
}

/** What the selection needs of the tenant's plan. */
export interface RoutingPlan {
  byoProvider: boolean;
  platformRoute?: PlatformRouteConfig | undefined;
}

/**
 * The one place a call's route is chosen: the tenant's first enabled route (oldest first)
 * whose model globs match the call's model, where the plan allows own providers (a tenant
 * moved off such a plan keeps its routes, unused); else the platform's route for the plan,
 * else the config's. A call without a model is taken by a route that matches every model
 * (`*`) only.
 */
export function selectRoute(plan: RoutingPlan, fallback: PlatformRouteConfig, routes: readonly RouteSummary[], model: string | undefined): Route {
  if (plan.byoProvider) {
    const found = routes.find((r) => r.enabled && r.models.some((glob) => globMatch(glob, model ?? '')));
    if (found) return { provider: found.provider, name: found.name, region: found.region, billing: 'tenant', revision: found.revision };
  }
  const platform = plan.platformRoute ?? fallback;
  return { provider: platform.provider, name: platform.name, region: platform.region, billing: 'platform' };
}
