import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { openDatabase } from '../src/db/client.js';
import { startPgliteThread } from '../src/db/pglite-remote.js';
import { APP_ROLE, POSTGRES_URL, TEMPLATE_ENV, withDatabase } from './harness.js';

/**
 * Says which database the suite runs on, so a skipped PostgreSQL run is never silent; and
 * gives the run a temporary directory of its own (TMPDIR, inherited by every test worker
 * and every process a test starts), which must be empty again when the run ends: a suite
 * that leaves files behind (a 40 MB PGlite directory per run adds up) fails the run.
 *
 * It also migrates one template database for the run, which each suite's fresh database
 * is copied from (test/harness.ts, createTestDatabase): on PostgreSQL a database made
 * with CREATE DATABASE … TEMPLATE, on PGlite a dump of a migrated PGlite loaded into a
 * new instance. A new PGlite otherwise spends seconds in its initdb, and a suite can
 * make dozens. Each copy still runs the migrations at open, finding them applied.
 */
export default async function setup(): Promise<() => Promise<void>> {
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
  const dropTemplate = await makeTemplate(runTmp);
  return async () => {
    await dropTemplate();
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

/** Migrates the run's template database and names it in the environment the test workers inherit; returns its removal. */
async function makeTemplate(runTmp: string): Promise<() => Promise<void>> {
  if (!POSTGRES_URL) {
    const pglite = await startPgliteThread({});
    const database = await openDatabase({ appRole: APP_ROLE, pglite });
    await pglite.exec('RESET ROLE');
    const file = join(runTmp, 'pglite-template.tar');
    writeFileSync(file, await pglite.dump());
    await database.close();
    process.env[TEMPLATE_ENV] = file;
    return async () => {
      delete process.env[TEMPLATE_ENV];
      rmSync(file, { force: true });
    };
  }
  const name = `tollgate_template_${process.pid}_${randomBytes(4).toString('hex')}`;
  const server = postgres(POSTGRES_URL, { max: 1, onnotice: () => undefined });
  await server.unsafe(`CREATE DATABASE ${name}`);
  try {
    // Closed before any copy: CREATE DATABASE … TEMPLATE refuses while the template has connections.
    await (await openDatabase({ url: withDatabase(POSTGRES_URL, name), appRole: APP_ROLE, poolSize: 1 })).close();
  } catch (error) {
    await server.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await server.end();
    throw error;
  }
  process.env[TEMPLATE_ENV] = name;
  return async () => {
    delete process.env[TEMPLATE_ENV];
    await server.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await server.end();
  };
}
