import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './temp-dirs.js';

const run = promisify(execFile);

/** Where Debian keeps PostgreSQL's server binaries (the newest version installed). */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const version = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))[0];
  return version ? join(root, version, 'bin') : undefined;
}

/** Why a throwaway PostgreSQL cannot be started here; undefined when it can. */
export function throwawayPostgresUnavailable(): string | undefined {
  return binDir() ? undefined : 'no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql';
}

export interface ThrowawayPostgres {
  /** postgres://postgres@127.0.0.1:port/postgres: the superuser, trust auth. */
  url: string;
  /** An immediate stop (no checkpoint: what a crash leaves, recovered from the WAL) and a start. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A PostgreSQL instance of the test's own (initdb, pg_ctl) on a free port, in a directory
 * of the run's TMPDIR: restarting or crashing it disturbs no other suite, as restarting
 * the shared one on 5432 would. initdb refuses to run as root, so as root the binaries
 * run as the `postgres` user, who is given the directory.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = binDir();
  if (!bin) throw new Error(throwawayPostgresUnavailable());
  const dir = tempDir('pg');
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    chownSync(dir, Number(uid.stdout), Number(gid.stdout));
    chmodSync(dir, 0o700);
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);
  await pg('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  // fsync off: the test kills processes, not the machine; what a commit wrote reaches the OS either way.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  const ctl = (...args: string[]) => pg('pg_ctl', ['-D', data, '-w', '-t', '60', ...args]);
  await ctl('-l', join(dir, 'log'), '-o', options, 'start');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async restart() {
      await ctl('-m', 'immediate', 'stop');
      await ctl('-l', join(dir, 'log'), '-o', options, 'start');
    },
    async close() {
      await ctl('-m', 'immediate', 'stop').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
