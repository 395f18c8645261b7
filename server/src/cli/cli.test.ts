import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from './index.js';
import { processIo, type Io } from './remote/io.js';
import { sql } from 'drizzle-orm';
import { openDatabase, rows } from '../db/client.js';
import { TEST_SECRET } from '../../test/harness.js';
import { removeTempDirs, tempDir } from '../../test/temp-dirs.js';

const saved = { ...process.env };
let dir: string;
let out: string[];
let errors: string[];

beforeEach(() => {
  dir = tempDir('cli');
  // The CLI reads its environment like the real command does; point it at a throwaway PGlite.
  process.env = { ...saved, TOLLGATE_DATA_DIR: dir, TOLLGATE_SECRET_KEY: TEST_SECRET, LOG_LEVEL: 'silent', DATABASE_URL: '' };
  out = [];
  errors = [];
  vi.spyOn(console, 'log').mockImplementation((...args) => { out.push(args.join(' ')); });
  vi.spyOn(console, 'error').mockImplementation((...args) => { errors.push(args.join(' ')); });
});
afterEach(() => {
  process.env = saved;
  vi.restoreAllMocks();
  removeTempDirs();
});

/** The CLI's io with `input` on a stdin that is not a terminal (a password piped in by a script). */
function piped(input: string): Io {
  return { ...processIo(), stdin: Readable.from([input]) };
}

/** `operator create --email <email>`, the password piped in. */
function createOperator(email: string, password: string): Promise<number> {
  return runCli(['operator', 'create', '--email', email], piped(`${password}\n`));
}

describe('tollgate CLI', () => {
  it('config check validates the shipped file and names the bad key of a broken one', async () => {
    expect(await runCli(['config', 'check'])).toBe(0);
    expect(out.join('\n')).toMatch(/valid \(3 plans, 10 operations\)/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, readFileSync(new URL('../../tollgate.config.yaml', import.meta.url), 'utf8').replace('creditsPerPeriod: 100\n', 'creditsPerPeriod: lots\n'));
    expect(await runCli(['config', 'check', '--config', broken])).toBe(2);
    expect(errors.join('\n')).toMatch(/plans\.free\.creditsPerPeriod/);
  });

  it('config schema writes the JSON Schema', async () => {
    const target = join(dir, 'schema.json');
    expect(await runCli(['config', 'schema', '--out', target])).toBe(0);
    expect(JSON.parse(readFileSync(target, 'utf8')).title).toBe('Tollgate configuration');
  });

  it('migrate applies migrations, and operator create makes an operator idempotently', async () => {
    expect(await runCli(['migrate'])).toBe(0);
    expect(await createOperator('ops@example.com', 'operator-password-1')).toBe(0);
    expect(await createOperator('ops@example.com', 'operator-password-1')).toBe(0);
    expect(out.join('\n')).toMatch(/operator created: usr_\w+ \(ops@example\.com\)/);
    expect(out.join('\n')).toMatch(/is already an operator; nothing changed/);
    expect(out.filter((line) => line === `tollgate: opening storage: embedded PGlite in ${dir}`)).toHaveLength(2);
    const database = await openDatabase({ dataDir: dir, appRole: '', migrate: false });
    const found = await rows<{ is_operator: boolean }>(database.db, sql`SELECT is_operator FROM users WHERE email = 'ops@example.com'`);
    // Audited once: the second run changed nothing.
    const audited = await rows<{ action: string; tenant_id: string }>(database.db, sql`SELECT action, tenant_id FROM audit_log WHERE action = 'operator.grant'`);
    await database.close();
    expect(found).toEqual([{ is_operator: true }]);
    expect(audited).toEqual([{ action: 'operator.grant', tenant_id: 'tnt_platform' }]);
  }, 180_000);

  it('secrets reseal seals again what a previous master secret sealed, and says so', async () => {
    process.env.TOLLGATE_SECRET_KEY = 'cli-old-master-secret-0123456789';
    expect(await runCli(['secrets', 'reseal'])).toBe(0);
    // The signing key made at that first start is sealed under the old secret; rotate.
    process.env.TOLLGATE_SECRET_KEY = 'cli-new-master-secret-0123456789';
    process.env.TOLLGATE_SECRET_KEY_PREVIOUS = 'cli-old-master-secret-0123456789';
    expect(await runCli(['secrets', 'reseal'])).toBe(0);
    expect(await runCli(['secrets', 'reseal'])).toBe(0);
    const said = out.filter((line) => line.startsWith('sealed again'));
    expect(said[0]).toBe('sealed again under the current master secret: 0 signing keys, 0 provider routes, 0 webhook secrets');
    expect(said[1]).toMatch(/^sealed again under the current master secret: 1 signing key, 0 provider routes, 0 webhook secrets; TOLLGATE_SECRET_KEY_PREVIOUS may now be removed/);
    expect(said[2]).toMatch(/: 0 signing keys, 0 provider routes/);
  }, 180_000);

  it('operator create never promotes an existing user whose password is not the one given', async () => {
    expect(await runCli(['migrate'])).toBe(0);
    const database = await openDatabase({ dataDir: dir, appRole: '', migrate: false });
    await database.close();
    // Someone signed up under the address first, with a password of their own (signup verifies no email).
    expect(await createOperator('squat@example.com', 'squatter-password-1')).toBe(0);
    const reopened = await openDatabase({ dataDir: dir, appRole: '', migrate: false });
    await rows(reopened.db, sql`UPDATE users SET is_operator = false WHERE email = 'squat@example.com'`);
    await reopened.close();
    expect(await createOperator('squat@example.com', 'the-real-operator-password')).toBe(1);
    expect(errors.join('\n')).toMatch(/exists and its password is not the one given: it is not made an operator/);
    expect(await createOperator('weak@example.com', 'x')).toBe(2);
    const after = await openDatabase({ dataDir: dir, appRole: '', migrate: false });
    const found = await rows<{ email: string; is_operator: boolean }>(after.db, sql`SELECT email, is_operator FROM users ORDER BY email`);
    await after.close();
    expect(found).toEqual([{ email: 'squat@example.com', is_operator: false }]);
  }, 180_000);

  it('rejects unknown commands and incomplete arguments with exit code 2', async () => {
    expect(await runCli(['frobnicate'])).toBe(2);
    expect(await runCli(['operator', 'create', '--email', 'x@example.com'], piped(''))).toBe(2);
    expect(errors.pop()).toMatch(/needs a password: typed at the prompt, or the first line of stdin/);
    expect(await runCli(['operator', 'create'], piped('operator-password-1\n'))).toBe(2);
    expect(errors.pop()).toMatch(/needs --email when stdin is not a terminal/);
    expect(await createOperator('not-an-email', 'operator-password-1')).toBe(2);
    expect(errors.pop()).toMatch(/the email must be an email address/);
  });

  it('operator create refuses a password on the command line (ps and shell history show it), before opening anything', async () => {
    expect(await runCli(['operator', 'create', '--email', 'ops@example.com', '--password', 'operator-password-1'], piped(''))).toBe(2);
    expect(errors.join('\n')).toMatch(/--password is not taken: .*Type it at the prompt, or give it on stdin/);
    expect(out).toEqual([]); // no storage opened
  });

  it('operator create on a terminal asks for the password twice, hidden, and refuses two that differ', async () => {
    const typed = terminal(['operator-password-1', 'operator-password-2']);

    expect(await runCli(['operator', 'create', '--email', 'ops@example.com'], typed.io)).toBe(2);

    expect(typed.shown()).toBe('Password: \nPassword again: \n');
    expect(errors.join('\n')).toMatch(/the two passwords differ; nothing was changed/);
    expect(out).toEqual([]);
  });
});

/** A terminal: each prompt written to stderr is answered with the next of `lines`, as typed keys; `shown()` is what the terminal displayed. */
function terminal(lines: string[]): { io: Io; shown: () => string } {
  const keyboard = Object.assign(new PassThrough(), { isTTY: true });
  let shown = '';
  const screen = new Writable({
    write(chunk: Buffer, _encoding, done) {
      shown += chunk.toString();
      // The answer comes once the prompt is shown, as a person types it.
      if (/: $/.test(chunk.toString())) setImmediate(() => keyboard.write(`${lines.shift() ?? ''}\r`));
      done();
    },
  });
  return { io: { ...processIo(), stdin: keyboard, stderr: screen }, shown: () => shown };
}
