import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { TEST_SECRET } from './harness.js';
import { tempDir } from './temp-dirs.js';

/**
 * For a test that starts several processes: each takes seconds to start (tsx, its own
 * PGlite or pool), and many more on a machine busy with other work.
 */
export const PROCESS_TEST_TIMEOUT_MS = 240_000;

export interface ServerProcess {
  url: string;
  pid: number;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Ends it with `signal` (kill -9 is SIGKILL) and waits until it is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s), then removes the data directory it was given by default. */
  close(): Promise<void>;
}

/** The environment of a `tollgate` process a test starts: nothing of the test's own but PATH. */
function processEnv(databaseUrl: string | undefined, env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH, TMPDIR: process.env.TMPDIR, DATABASE_URL: databaseUrl ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent',
    TOLLGATE_SECRET_KEY: TEST_SECRET, ...env,
  };
}

/**
 * A real server process (`tsx src/main.ts serve`: its own Node, pool and caches) on the
 * given PostgreSQL database, or on PGlite without one (in `env.TOLLGATE_DATA_DIR`, else
 * a directory of its own), started on a free port; resolves once it is listening.
 */
export async function startServerProcess(databaseUrl: string | undefined, env: Record<string, string> = {}): Promise<ServerProcess> {
  const ownDir = env.TOLLGATE_DATA_DIR ? undefined : tempDir('child');
  // node --import tsx: one process, so SIGTERM reaches the server itself
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: process.cwd(), env: processEnv(databaseUrl, { ...(ownDir ? { TOLLGATE_DATA_DIR: ownDir } : {}), ...env }), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 120_000);
    const read = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (match) { clearTimeout(timer); resolve(match[1]!); }
    };
    proc.stdout!.on('data', read);
    proc.stderr!.on('data', read);
    proc.once('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
  });
  const kill = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  return {
    url,
    pid: proc.pid!,
    output: () => out,
    kill,
    close: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
        await kill('SIGKILL');
      }
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
}

/** `tollgate <args>` as a real process, to its end, `input` on its stdin (a pipe, not a terminal): its exit code and what it printed. */
export function runTollgate(args: string[], databaseUrl: string | undefined, env: Record<string, string> = {}, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: process.cwd(), env: processEnv(databaseUrl, env), stdio: ['pipe', 'pipe', 'pipe'],
  });
  proc.stdin.end(input);
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  proc.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })));
}
