import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 240_000,
    // vite build of the current source (a few seconds): the server serves that dist/.
    globalSetup: ['test/global-setup.ts'],
  },
});
