import { defineConfig } from 'vitest/config';

// Not run in .ci/run's PostgreSQL pass (which sets TOLLGATE_TEST_REPEAT_PASS): the browser suite's
// server (sdk/test/tollgate-server.ts) keeps its own PGlite, so that run would be the PGlite pass's again.
const repeatPass = Boolean(process.env.TOLLGATE_TEST_REPEAT_PASS);
if (repeatPass) console.log('\n[console] browser suite SKIPPED (TOLLGATE_TEST_REPEAT_PASS): its server ignores DATABASE_URL, so this pass would repeat the first one exactly\n');

export default defineConfig({
  test: {
    include: repeatPass ? [] : ['test/**/*.test.ts'],
    passWithNoTests: repeatPass,
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 240_000,
    // vite build of the current source (a few seconds): the server serves that dist/.
    globalSetup: repeatPass ? [] : ['test/global-setup.ts'],
  },
});
