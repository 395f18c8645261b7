/** The suites' config (written as JSON, which is YAML): small limits, and plans whose rate limits make real 429s. */
export function suiteConfig(): object {
  const basePlan = { limits: { runs: 10 }, concurrentRuns: 5, creditsPerPeriod: 1000, modules: ['planner', 'writer'] };
  return {
    version: 1,
    auth: { scryptCost: 10 },
    rateLimits: {
      scopes: {
        api: { limit: 1200, windowSeconds: 60 },
        auth: { limit: 1000, windowSeconds: 60 },
        authorize: { limit: 6000, windowSeconds: 60 },
      },
    },
    modules: ['planner', 'writer', 'thinker'],
    meters: { runs: { description: 'AI runs in the period', bypassRoles: ['owner'] } },
    plans: {
      free: { ...basePlan, default: true },
      // Two decisions a second, and two settles or releases: the third is refused with a 429.
      throttled: { ...basePlan, rateLimit: { limit: 2, windowSeconds: 1 } },
      // One an hour: a Retry-After no client should wait out.
      hourly: { ...basePlan, rateLimit: { limit: 1, windowSeconds: 3600 } },
    },
    operations: {
      clustering: { module: 'planner', meter: 'runs', cost: { type: 'fixed', credits: 10 } },
      content_generation: { module: 'writer', meter: 'runs', cost: { type: 'per_unit', unit: 'words', per: 100, credits: 1, minimum: 1 } },
      chat: { module: 'thinker', meter: 'runs', cost: { type: 'fixed', credits: 1 } },
    },
  };
}
