import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { TEST_SECRET } from './harness.js';
import { tempDir } from './temp-dirs.js';

export interface ServerProcess {
  url: string;
  close(): Promise<void>;
}

/**
 * A real second server process (`tsx src/main.ts serve`: its own Node, pool and caches)
 * on the given database, started on a free port; resolves once it is listening.
 */
export async function startServerProcess(databaseUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const dataDir = tempDir('child');
  // node --import tsx: one process, so SIGTERM reaches the server itself
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: process.cwd(),
    env: {
      PATH: process.env.PATH, DATABASE_URL: databaseUrl, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', TOLLGATE_SECRET_KEY: TEST_SECRET,
      TOLLGATE_DATA_DIR: dataDir, ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    const read = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (match) { clearTimeout(timer); resolve(match[1]!); }
    };
    proc.stdout!.on('data', read);
    proc.stderr!.on('data', read);
    proc.once('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
  });
  return {
    url,
    close: async () => {
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
