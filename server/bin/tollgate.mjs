#!/usr/bin/env node
// Runs the TypeScript entry point with tsx's loader, so the CLI needs no build step. The
// command runs as this process's own child, with nothing between: tsx's command line would
// put a supervisor of its own there, which passes a signal on by giving its child 30 ms to
// say it got it, then 30 ms more, then kills it (SIGKILL). On a loaded machine a Ctrl-C so
// killed a command holding the stored session's lock, and the lock stayed for the next
// commands to wait out (cli/remote/file-lock.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
// A young generation of 64 MiB a half (V8's default is 16), as `npm start` runs the server:
// a decision allocates ~65 KB, so the default collects every ~650 ms at 300 decisions/s,
// pausing every request in flight for ~2 ms; a fourth as often costs no more per collection.
const args = ['--max-semi-space-size=64', '--import', import.meta.resolve('tsx'), main, ...process.argv.slice(2)];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
