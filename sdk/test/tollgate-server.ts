import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The server workspace: its process is started the way `npm start` does (`tsx src/main.ts serve`). */
const SERVER_DIR = fileURLToPath(new URL('../../server/', import.meta.url));
const START_TIMEOUT_MS = 120_000;
export const OPERATOR = { email: 'operator@example.com', password: 'operator-password-for-tests' };

export interface TollgateProcess {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real Tollgate: `node --import tsx src/main.ts serve` in server/, on a free port of
 * 127.0.0.1, with a fresh embedded PGlite in a temporary directory (whatever DATABASE_URL
 * says: the client behaves the same on either database), a bootstrap operator, and
 * `config` as its config file when given (JSON is YAML), and `extraEnv` added to its
 * environment. Resolves once it listens.
 */
export async function startTollgate(config?: object, extraEnv: Record<string, string> = {}): Promise<TollgateProcess> {
  const home = mkdtempSync(join(tmpdir(), 'tollgate-sdk-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: '',
    TOLLGATE_DATA_DIR: join(home, 'data'),
    TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: OPERATOR.email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: OPERATOR.password,
    ...extraEnv,
  };
  if (config) {
    env.TOLLGATE_CONFIG = join(home, 'tollgate.config.json');
    writeFileSync(env.TOLLGATE_CONFIG, JSON.stringify(config, null, 2));
  }
  // node --import tsx: one process, so SIGTERM reaches the server itself.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], { cwd: SERVER_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await listening(child);
    return { url, stop: async () => { await stop(child); rmSync(home, { recursive: true, force: true }); } };
  } catch (error) {
    await stop(child);
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
}

function listening(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`Tollgate did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`Tollgate exited (${code}) before listening:\n${output}`)); });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
