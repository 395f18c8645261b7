import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Says which database the suite runs on, so a skipped PostgreSQL run is never silent; and
 * gives the run a temporary directory of its own (TMPDIR, inherited by every test worker
 * and every process a test starts), which must be empty again when the run ends: a suite
 * that leaves files behind (a 40 MB PGlite directory per run adds up) fails the run.
 */
export default function setup(): () => void {
  if (process.env.DATABASE_URL) {
    console.log(`\n[tollgate] database: PostgreSQL (${new URL(process.env.DATABASE_URL).host}); each suite gets a fresh database\n`);
  } else {
    console.log('\n[tollgate] database: embedded PGlite. PostgreSQL-only suites (real pool, two processes, role checks) are SKIPPED; set DATABASE_URL to run them.\n');
  }
  const runTmp = mkdtempSync(join(tmpdir(), 'tollgate-test-run-'));
  // Others may pass through (not list): a throwaway PostgreSQL runs as the postgres user in a directory of its own here.
  chmodSync(runTmp, 0o711);
  const outer = process.env.TMPDIR;
  process.env.TMPDIR = runTmp;
  return () => {
    if (outer === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outer;
    // tsx's compile cache (tsx-<uid>), made by the processes tests start, is the tool's, not a suite's.
    const left = readdirSync(runTmp).filter((name) => !/^tsx-\d+$/.test(name));
    rmSync(runTmp, { recursive: true, force: true });
    if (left.length > 0) {
      // vitest reports a teardown's error but still exits 0: the exit code is set here.
      console.error(`\n[tollgate] FAILED: tests left files in the temporary directory (each suite removes what it makes): ${left.join(', ')}\n`);
      process.exitCode = 1;
    }
  };
}
