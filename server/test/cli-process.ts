import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestApp } from './harness.js';

const BIN = fileURLToPath(new URL('../bin/tollgate.mjs', import.meta.url));

export interface CliRun { code: number; stdout: string; stderr: string }

/** The real `tollgate` bin as a process: `home` stands for the user's home (its .config holds what login stores). */
export function runTollgate(home: string, args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A fresh home directory for one CLI user. */
export function freshHome(): string {
  return mkdtempSync(join(tmpdir(), 'tollgate-cli-home-'));
}

/** Starts the test app listening on a free port of 127.0.0.1; answers its URL. */
export async function listen(t: TestApp): Promise<string> {
  return t.app.listen({ host: '127.0.0.1', port: 0 });
}
