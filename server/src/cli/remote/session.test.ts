/** `tollgate login` and the credentials the operator commands use, run as real processes against a real server. */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { freshHome, listen, runTollgate, type CliOptions, type CliRun } from '../../../test/cli-process.js';
import { startTestApp, type SignedUp, type TestApp } from '../../../test/harness.js';
import { cuttableRelay, type CuttableRelay } from '../../../test/tcp-relay.js';

let t: TestApp;
let url: string;
let op: SignedUp;

beforeAll(async () => {
  t = await startTestApp();
  url = await listen(t);
  op = await t.operator();
});
afterAll(async () => { await t.close(); });

const credentials = (home: string) => join(home, '.config', 'tollgate', 'credentials.json');
const stored = (home: string) => JSON.parse(readFileSync(credentials(home), 'utf8')) as { url: string; accessToken: string; refreshToken: string; expiresAt: number };

async function signedIn(at = url): Promise<string> {
  const home = freshHome();
  const login = await runTollgate(home, ['login', '--url', at, '--email', op.email], { input: `${op.password}\n` });
  expect(login.code, login.stderr).toBe(0);
  return home;
}

/** Makes the stored access token one to refresh before the next call. */
function expire(home: string): void {
  writeFileSync(credentials(home), JSON.stringify({ ...stored(home), expiresAt: Date.now() - 1000 }));
}

/**
 * What `found` answers once it answers something: a state other processes reach, not a time
 * they take (a slow machine only makes the wait longer; the test's timeout bounds it).
 */
async function waitFor<T>(found: () => T | undefined): Promise<T> {
  for (;;) {
    const value = found();
    if (value !== undefined) return value;
    await sleep(20);
  }
}

/** The pid a lock names, once its holder wrote it. */
const holderIn = (lock: string) => Number.parseInt(readFileSync(lock, 'utf8'), 10) || undefined;

/** The parent of a process, from /proc (the suite runs on Linux). */
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);

/**
 * A `tenants show` signed in through `relay` and refreshing through it, once `stall` keeps
 * the refresh unanswered (hang: nothing answers; hold: the answers wait for release()):
 * it holds the lock.
 */
async function refreshingThrough(relay: CuttableRelay, stall: 'hang' | 'hold', options: CliOptions = {}) {
  const home = await signedIn(relay.url);
  expire(home);
  relay[stall]();
  const lock = `${credentials(home)}.lock`;
  const run = runTollgate(home, ['tenants', 'show', op.tenantId], options);
  await waitFor(() => existsSync(lock) || undefined);
  return { home, lock, run };
}

/** Watches a command's stderr for its line saying it waits for the lock: `said` resolves when it comes. */
function waitingLine(): { said: Promise<void>; onStderr: (text: string) => void } {
  let seen: () => void = () => undefined;
  const said = new Promise<void>((resolve) => { seen = resolve; });
  return { said, onStderr: (text) => { if (text.includes('tollgate: waiting')) seen(); } };
}

describe('tollgate login', () => {
  it('stores the URL and tokens readable by the user alone, and the commands use them', async () => {
    const home = freshHome();

    const login = await runTollgate(home, ['login', '--url', `${url}/`, '--email', op.email, '--json'], { input: `${op.password}\n` });
    const listed = await runTollgate(home, ['tenants', 'list', '--json', '--query', op.tenantId]);

    expect(login.code, login.stderr).toBe(0);
    expect(JSON.parse(login.stdout)).toMatchObject({ url, email: op.email, isOperator: true });
    expect(statSync(credentials(home)).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, '.config', 'tollgate')).mode & 0o777).toBe(0o700);
    expect(stored(home)).toMatchObject({ url, accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).tenants.map((tenant: { id: string }) => tenant.id)).toEqual([op.tenantId]);
  });

  it('a wrong password is exit 4 and stores nothing; a user who is no operator is told so, and refused with exit 1', async () => {
    const home = freshHome();
    const member = await t.signup();

    const wrong = await runTollgate(home, ['login', '--url', url, '--email', op.email], { input: 'not-the-password\n' });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/INVALID_CREDENTIALS/);
    expect(() => statSync(credentials(home))).toThrow();

    const login = await runTollgate(home, ['login', '--url', url, '--email', member.email], { input: `${member.password}\n` });
    const refused = await runTollgate(home, ['tenants', 'list']);
    expect(login.code).toBe(0);
    expect(login.stderr).toMatch(/no operator/);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/FORBIDDEN/);
  });

  it('an access token about to expire is refreshed first, and the new pair stored', async () => {
    const home = await signedIn();
    const before = stored(home);
    expire(home);

    const shown = await runTollgate(home, ['tenants', 'show', op.tenantId]);

    expect(shown.code, shown.stderr).toBe(0);
    const after = stored(home);
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.expiresAt).toBeGreaterThan(Date.now());
    expect(statSync(credentials(home)).mode & 0o777).toBe(0o600);
  });

  it('commands run in parallel with an expired access token refresh it once between them: all succeed, and the session lives on', async () => {
    const home = await signedIn();
    const before = stored(home);
    expire(home);

    // As `xargs -P` runs them: each reads the same stored pair, whose refresh token is single-use.
    const runs = await Promise.all(Array.from({ length: 5 }, () => runTollgate(home, ['tenants', 'show', op.tenantId])));
    const next = await runTollgate(home, ['tenants', 'show', op.tenantId]);

    // A command waiting for the lock over 2 s on a busy machine says so, and nothing else.
    expect(runs.map((run) => [run.code, run.stderr.replace(/^tollgate: waiting for another tollgate command .*\n$/, '')])).toEqual(runs.map(() => [0, '']));
    expect(next.code, next.stderr).toBe(0);
    expect(stored(home).refreshToken).not.toBe(before.refreshToken);
    expect(readdirSync(dirname(credentials(home)))).toEqual(['credentials.json']);
  });

  it('a lock left by a command that died is broken once it is stale', async () => {
    const home = await signedIn();
    expire(home);
    const lock = `${credentials(home)}.lock`;
    writeFileSync(lock, '');
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, longAgo, longAgo);

    const shown = await runTollgate(home, ['tenants', 'show', op.tenantId]);

    expect(shown.code, shown.stderr).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  // Synchronised on states, not times: the lock exists (its holder's handlers are in place
  // before it is made), the holder's pid is in it.
  it('a command interrupted while it holds the lock (Ctrl-C, kill) removes it; killed, it exits 143', async () => {
    const relay = await cuttableRelay(url);
    try {
      const pressed = await refreshingThrough(relay, 'hang', { ownGroup: true });
      // The command is the bin's own child: nothing between them handles the Ctrl-C first. tsx's
      // command line there gave the command 60 ms to confirm a signal, then killed it (SIGKILL),
      // lock and all, on a machine too loaded to run it that soon.
      expect(parentOf(await waitFor(() => holderIn(pressed.lock)))).toBe(pressed.run.pid);
      process.kill(-pressed.run.pid, 'SIGINT'); // Ctrl-C: to the job's every process
      const interrupted = await pressed.run;
      await relay.restore();
      expect(existsSync(pressed.lock)).toBe(false);
      // Ended by the Ctrl-C, not by the refresh giving up after 10 s (which says so, and removes the lock itself).
      expect(interrupted.stderr).toBe('');

      const killed = await refreshingThrough(relay, 'hang');
      const pid = await waitFor(() => holderIn(killed.lock));
      process.kill(pid, 'SIGTERM'); // `kill PID` of the command the waiting line names
      const run = await killed.run;
      expect(run.code, run.stderr).toBe(143);
      expect(existsSync(killed.lock)).toBe(false);
    } finally {
      await relay.cut();
    }
  });

  it('a command waiting over 2 s for the lock says which command holds it, once, then goes on', async () => {
    const home = await signedIn();
    expire(home);
    const lock = `${credentials(home)}.lock`;
    writeFileSync(lock, '4242\n'); // held by a live command, pid 4242
    const waiting = waitingLine();

    const shown = runTollgate(home, ['tenants', 'show', op.tenantId], { onStderr: waiting.onStderr });
    await Promise.race([waiting.said, sleep(15_000)]);
    rmSync(lock);
    const run = await shown;

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('tollgate: waiting for another tollgate command (pid 4242) using the stored session\n');
  });

  it('logout and login wait for a refresh in flight, which then writes nothing over them', async () => {
    const relay = await cuttableRelay(url);
    // Done, or waiting for the lock (it says so after 2 s): then the refresh in flight is answered.
    const alongside = async (run: Promise<CliRun>, waiting: Promise<void>) => {
      await Promise.race([run, waiting]);
      relay.release();
    };
    try {
      const first = await refreshingThrough(relay, 'hold');
      const outWait = waitingLine();
      const out = runTollgate(first.home, ['logout'], { onStderr: outWait.onStderr });
      await alongside(out, outWait.said);
      expect((await first.run).code).toBe(0);
      expect((await out).code).toBe(0);
      expect(existsSync(credentials(first.home))).toBe(false);

      const second = await refreshingThrough(relay, 'hold');
      const inWait = waitingLine();
      const login = runTollgate(second.home, ['login', '--url', url, '--email', op.email], { input: `${op.password}\n`, onStderr: inWait.onStderr });
      await alongside(login, inWait.said);
      expect((await second.run).code).toBe(0);
      expect((await login).code).toBe(0);
      expect(stored(second.home).url).toBe(url); // the new login's session, not the relay's refreshed
    } finally {
      await relay.cut();
    }
  });

  it('logout forgets the session: the commands then say to sign in (exit 4)', async () => {
    const home = await signedIn();

    const out = await runTollgate(home, ['logout']);
    const after = await runTollgate(home, ['tenants', 'list', '--url', url]);

    expect(out.code).toBe(0);
    expect(after.code).toBe(4);
    expect(after.stderr).toMatch(/not signed in to .*tollgate login/);
  });
});

describe('the environment wins', () => {
  it('TOLLGATE_URL and TOLLGATE_TOKEN serve without a login, and over a stored session', async () => {
    const home = await signedIn();
    writeFileSync(credentials(home), JSON.stringify({ ...stored(home), accessToken: 'not-a-token', expiresAt: Date.now() + 3_600_000 }));

    const stale = await runTollgate(home, ['tenants', 'show', op.tenantId]);
    const fromEnv = await runTollgate(freshHome(), ['tenants', 'show', op.tenantId], { env: { TOLLGATE_URL: url, TOLLGATE_TOKEN: op.accessToken } });
    const overStored = await runTollgate(home, ['tenants', 'show', op.tenantId], { env: { TOLLGATE_TOKEN: op.accessToken } });

    expect(stale.code).toBe(4);
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toMatch(new RegExp(`id:\\s+${op.tenantId}`));
    expect(overStored.code, overStored.stderr).toBe(0);
  });

  it('a stored token is never sent to another server', async () => {
    const home = await signedIn();
    const other = createServer((socket) => { received.push('connection'); socket.destroy(); });
    const received: string[] = [];
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherUrl = `http://127.0.0.1:${(other.address() as { port: number }).port}`;

    const elsewhere = await runTollgate(home, ['tenants', 'list'], { env: { TOLLGATE_URL: otherUrl } });
    await new Promise((resolve) => other.close(resolve));

    expect(elsewhere.code).toBe(4);
    expect(elsewhere.stderr).toMatch(/not signed in to http:\/\/127\.0\.0\.1/);
    expect(received).toEqual([]);
  });
});

describe('exit codes', () => {
  it('2 for a wrong command line, before anything is sent', async () => {
    const home = await signedIn();
    const runs = await Promise.all([
      runTollgate(home, ['tenants', 'frobnicate']),
      runTollgate(home, ['tenants', 'show']),
      runTollgate(home, ['tenants', 'list', '--bogus']),
      runTollgate(home, ['tenants', 'list', '--limit', 'ten']),
      runTollgate(home, ['credits', 'grant', op.tenantId, '10']),
      runTollgate(home, ['trial', 'set', op.tenantId]),
      runTollgate(home, ['payments', 'confirm-bank-transfer', op.tenantId, '--amount', '4900']),
    ]);
    expect(runs.map((run) => run.code)).toEqual(Array(runs.length).fill(2));
    expect(runs[1]!.stderr).toMatch(/missing TENANT[\s\S]*Usage: tollgate tenants show TENANT/);
    expect(runs[4]!.stderr).toMatch(/missing --reason/);
  });

  it('1 when the server refuses (404 of an unknown tenant), with the code and request id; --json says it as JSON', async () => {
    const home = await signedIn();

    const human = await runTollgate(home, ['tenants', 'show', 'tnt_00000000000000000000000000']);
    const json = await runTollgate(home, ['tenants', 'show', 'tnt_00000000000000000000000000', '--json']);

    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/^tollgate: TENANT_NOT_FOUND: .*status 404, request req_/);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'TENANT_NOT_FOUND', status: 404, requestId: expect.stringMatching(/^req_/) } });
    expect(json.stdout).toBe('');
  });

  it('3 when the server cannot be reached; 0 for --help', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));

    const unreachable = await runTollgate(freshHome(), ['tenants', 'list'], { env: { TOLLGATE_URL: `http://127.0.0.1:${port}`, TOLLGATE_TOKEN: 'x' } });
    const help = await runTollgate(freshHome(), ['tenants', 'list', '--help']);

    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/ECONNREFUSED/);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tollgate tenants list/);
  });
});
