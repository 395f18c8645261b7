/**
 * Builds the console from the current source first (`npm run build`, a few seconds, as
 * npm ci does), so the suite never drives a stale dist/. A separate process: vitest's
 * NODE_ENV=test would make Vite bundle React's development build.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const env = { ...process.env, NODE_ENV: 'production' };
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: fileURLToPath(new URL('..', import.meta.url)), env, stdio: ['ignore', 'ignore', 'inherit'] });
}
