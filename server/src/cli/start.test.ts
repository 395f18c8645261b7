import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/client.js';
import { PROCESS_TEST_TIMEOUT_MS, runTollgate, startServerProcess, type ServerProcess } from '../../test/server-process.js';
import { removeTempDirs, tempDir } from '../../test/temp-dirs.js';

/**
 * `tollgate` as a newcomer meets it, in real processes on embedded PGlite (whichever
 * database the suite runs on: this is about the data directory): one owner per data
 * directory, storage and progress said plainly, a taken port in one line.
 */
const started: ServerProcess[] = [];
afterEach(async () => {
  for (const server of started.splice(0)) await server.close();
});
afterAll(() => { removeTempDirs(); });

async function serve(dir: string): Promise<ServerProcess> {
  const server = await startServerProcess(undefined, { TOLLGATE_DATA_DIR: dir, LOG_LEVEL: 'warn' });
  started.push(server);
  return server;
}

const OPERATOR = ['operator', 'create', '--email', 'ops@example.com'];
/** The operator's password, on stdin as a script gives it (never on the command line). */
const OPERATOR_PASSWORD = 'operator-password-1\n';

describe('the data directory has one owner', () => {
  it('refuses a second opener with the directory and the holder; a dead holder\'s lock is no obstacle; operator creation is audited', async () => {
    const dir = tempDir('owned');
    const server = await serve(dir);
    expect(server.output()).toContain(`tollgate: opening storage: embedded PGlite in ${dir} (none there yet: creating the database)`);
    expect(server.output()).toMatch(/tollgate: migrations: 1 of \d+ \(0001_foundation\.sql\)/);

    for (const args of [OPERATOR, ['migrate']]) {
      const second = await runTollgate(args, undefined, { TOLLGATE_DATA_DIR: dir }, OPERATOR_PASSWORD);
      expect(second.code, args.join(' ')).toBe(1);
      expect(second.stderr).toContain(`the data directory ${dir} is in use by another Tollgate process (pid ${server.pid} `);
      expect(second.stderr).not.toMatch(/^\s+at /m);
      expect(second.stdout).not.toMatch(/operator created|migrations applied/);
    }

    await server.kill('SIGKILL');
    const created = await runTollgate(OPERATOR, undefined, { TOLLGATE_DATA_DIR: dir, LOG_LEVEL: 'warn' }, OPERATOR_PASSWORD);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`tollgate: opening storage: embedded PGlite in ${dir}\n`);
    expect(created.stdout).toMatch(/operator created: usr_\w+ \(ops@example\.com\)/);

    // The write is there for the next server, and so is its audit entry.
    const again = await serve(dir);
    expect(again.output()).toContain('tollgate: migrations: up to date');
    const token = await (await fetch(`${again.url}/v1/token`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grantType: 'password', email: 'ops@example.com', password: 'operator-password-1' }),
    })).json() as { accessToken: string };
    const audit = await (await fetch(`${again.url}/v1/admin/audit?action=operator.grant`, { headers: { authorization: `Bearer ${token.accessToken}` } })).json() as {
      entries: { action: string; actor: { type: string }; target: { id: string }; data: Record<string, unknown> }[];
    };
    expect(audit.entries).toEqual([expect.objectContaining({
      action: 'operator.grant', actor: { type: 'system', id: null },
      data: { email: 'ops@example.com', source: 'tollgate operator create', created: true },
    })]);
  }, PROCESS_TEST_TIMEOUT_MS);

  it('every command that opens storage says which', async () => {
    const dir = tempDir('storage');
    const migrated = await runTollgate(['migrate'], undefined, { TOLLGATE_DATA_DIR: dir });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(`tollgate: opening storage: embedded PGlite in ${dir} (none there yet: creating the database)`);
    const onPostgres = await runTollgate(['migrate'], 'postgres://someone:hunter2-secret@127.0.0.1:1/tollgate_nowhere', { TOLLGATE_DB_CONNECT_TIMEOUT: '1' });
    expect(onPostgres.code).not.toBe(0);
    expect(onPostgres.stdout).toContain('tollgate: opening storage: PostgreSQL 127.0.0.1:1/tollgate_nowhere as someone');
    expect(onPostgres.stdout + onPostgres.stderr).not.toContain('hunter2');
  }, PROCESS_TEST_TIMEOUT_MS);
});

describe('a database a newer release has migrated', () => {
  it('is one line naming what this release lacks, exit 1, for serve and migrate alike, and the server never starts', async () => {
    const dir = tempDir('newer');
    expect((await runTollgate(['migrate'], undefined, { TOLLGATE_DATA_DIR: dir })).code).toBe(0);
    const owner = await openDatabase({ dataDir: dir, appRole: '', migrate: false });
    await owner.db.execute(sql`INSERT INTO tollgate_migrations (name) VALUES ('9999_from_a_newer_release.sql')`);
    await owner.close();
    for (const args of [['migrate'], ['serve']]) {
      const refused = await runTollgate(args, undefined, { TOLLGATE_DATA_DIR: dir, PORT: '0' });
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr).toContain('tollgate: the database was migrated by a newer release of Tollgate (9999_from_a_newer_release.sql is not in this one)');
      expect(refused.stderr).not.toMatch(/^\s+at /m);
      expect(refused.stdout).not.toMatch(/migrations applied|is listening/);
    }
  }, PROCESS_TEST_TIMEOUT_MS);
});

describe('a port in use', () => {
  let blocker: Server;
  afterEach(async () => { await new Promise((resolve) => blocker.close(resolve)); });

  it('is one line naming the port and PORT, exit 1, no stack trace', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    const res = await runTollgate(['serve'], undefined, { TOLLGATE_DATA_DIR: tempDir('port'), PORT: String(port) });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`tollgate: port ${port} is in use; set PORT\n`);
  });
});
