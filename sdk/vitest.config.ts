import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // One real Tollgate for the whole run (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
  },
});
