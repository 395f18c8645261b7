import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { startTestApp, type TestApp } from './harness.js';

const BIN = fileURLToPath(new URL('../bin/tollgate.mjs', import.meta.url));

export interface CliRun { code: number; stdout: string; stderr: string }

export interface CliOptions {
  env?: Record<string, string>;
  input?: string;
  /** Sees what it wrote on stderr so far, as it comes, before it ends. */
  onStderr?: (text: string) => void;
  /** In a process group of its own, as a terminal's job: `process.kill(-run.pid, 'SIGINT')` is a Ctrl-C. */
  ownGroup?: boolean;
}

/** The real `tollgate` bin as a process: `home` stands for the user's home (its .config holds what login stores). */
export function runTollgate(home: string, args: string[], options: CliOptions = {}): Promise<CliRun> & { pid: number } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.ownGroup ?? false,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    options.onStderr?.(stderr);
  });
  child.stdin.end(options.input ?? '');
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return Object.assign(done, { pid: child.pid! });
}

/** Homes made for the suite importing this file, removed when it ends. */
const homes: string[] = [];
afterAll(() => {
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** A fresh home directory for one CLI user (removed after the suite). */
export function freshHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'tollgate-cli-home-'));
  homes.push(home);
  return home;
}

/** Starts the test app listening on a free port of 127.0.0.1; answers its URL. */
export async function listen(t: TestApp): Promise<string> {
  return t.app.listen({ host: '127.0.0.1', port: 0 });
}

/** An operator at the command line: the test app listening on a port, an operator's token in TOLLGATE_URL / TOLLGATE_TOKEN, a fresh home. */
export interface OperatorCli {
  t: TestApp;
  env: Record<string, string>;
  /** `tollgate …args` as the operator. */
  tollgate(...args: string[]): Promise<CliRun>;
  /** The same with --json: expects exit 0 and answers what it printed, parsed. */
  json<T = Record<string, unknown>>(...args: string[]): Promise<T>;
  close(): Promise<void>;
}

export async function startOperatorCli(): Promise<OperatorCli> {
  const t = await startTestApp();
  const op = await t.operator();
  const env = { TOLLGATE_URL: await listen(t), TOLLGATE_TOKEN: op.accessToken };
  const home = freshHome();
  const tollgate = (...args: string[]) => runTollgate(home, args, { env });
  return {
    t, env, tollgate,
    async json<T>(...args: string[]) {
      const run = await tollgate(...args, '--json');
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as T;
    },
    close: () => t.close(),
  };
}
