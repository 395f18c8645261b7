/**
 * A workspace's static checks, the first part of its `npm test`: `npm run typecheck`, then
 * `npm run lint`, in the directory it is run from. Where TOLLGATE_TEST_REPEAT_PASS is set
 * (.ci/run's second pass, the suites again on PostgreSQL) they are skipped with a line
 * saying so: neither depends on the database, and the first pass ran them on this tree.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const { name } = JSON.parse(readFileSync('package.json', 'utf8'));
if (process.env.TOLLGATE_TEST_REPEAT_PASS) {
  console.log(`[${name}] typecheck and lint SKIPPED (TOLLGATE_TEST_REPEAT_PASS): they do not depend on the database, and the first pass ran them`);
} else {
  for (const script of ['typecheck', 'lint']) {
    const run = spawnSync('npm', ['run', script], { stdio: 'inherit' });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
}
