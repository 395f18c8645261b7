import { describe, expect, it } from 'vitest';
import { selectRoute, type RouteSummary } from './select.js';

const fallback = { provider: 'default', name: 'platform', region: null };
const routes: RouteSummary[] = [
  { name: 'off', provider: 'openai', region: null, models: ['*'], enabled: false, revision: 'r-off' },
  { name: 'aws', provider: 'bedrock', region: 'eu-west-1', models: ['bedrock/claude-*', 'bedrock/titan-?'], enabled: true, revision: 'r-aws' },
  { name: 'rest', provider: 'anthropic', region: null, models: ['*'], enabled: true, revision: 'r-rest' },
];

describe('selectRoute', () => {
  it('takes the first enabled route (in the order given: oldest first) whose globs match the model', () => {
    const plan = { byoProvider: true };
    expect(selectRoute(plan, fallback, routes, 'bedrock/claude-sonnet')).toEqual({ provider: 'bedrock', name: 'aws', region: 'eu-west-1', billing: 'tenant', revision: 'r-aws' });
    expect(selectRoute(plan, fallback, routes, 'bedrock/titan-1')).toMatchObject({ name: 'aws' });
    expect(selectRoute(plan, fallback, routes, 'bedrock/titan-12')).toMatchObject({ name: 'rest' });
    // A call without a model is taken by a route that takes every model only.
    expect(selectRoute(plan, fallback, routes, undefined)).toMatchObject({ name: 'rest' });
    expect(selectRoute(plan, fallback, routes.slice(0, 2), undefined)).toEqual({ ...fallback, billing: 'platform' });
  });

  it('runs on the platform where the plan does not allow own providers, on the plan\'s platform route if it names one', () => {
    expect(selectRoute({ byoProvider: false }, fallback, routes, 'bedrock/claude-sonnet')).toEqual({ ...fallback, billing: 'platform' });
    const planRoute = { provider: 'bedrock', name: 'platform-eu', region: 'eu-central-1' };
    expect(selectRoute({ byoProvider: false, platformRoute: planRoute }, fallback, routes, 'x')).toEqual({ ...planRoute, billing: 'platform' });
    expect(selectRoute({ byoProvider: true, platformRoute: planRoute }, fallback, [], 'x')).toEqual({ ...planRoute, billing: 'platform' });
  });
});
