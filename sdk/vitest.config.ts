import { defineConfig } from 'vitest/config';

// .ci/run's second pass (TOLLGATE_TEST_REPEAT_PASS, on PostgreSQL) skips this suite: its server
// runs on a PGlite of its own whatever DATABASE_URL says, so it would repeat the first pass.
const repeatPass = Boolean(process.env.TOLLGATE_TEST_REPEAT_PASS);
if (repeatPass) console.log('\n[sdk] suite SKIPPED (TOLLGATE_TEST_REPEAT_PASS): its server ignores DATABASE_URL, so this pass would repeat the first one exactly\n');

export default defineConfig({
  test: {
    include: repeatPass ? [] : ['test/**/*.test.ts'],
    passWithNoTests: repeatPass,
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // One real Tollgate for the whole run (test/global-setup.ts).
    globalSetup: repeatPass ? [] : ['test/global-setup.ts'],
  },
});
