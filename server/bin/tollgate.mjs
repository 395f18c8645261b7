#!/usr/bin/env node
// Runs the TypeScript entry point through tsx, so the CLI needs no build step.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
// A young generation of 64 MiB a half (V8's default is 16), as `npm start` runs the server:
// a decision allocates ~65 KB, so the default collects every ~650 ms at 300 decisions/s,
// pausing every request in flight for ~2 ms; a fourth as often costs no more per collection.
const result = spawnSync(process.execPath, [tsx, '--max-semi-space-size=64', join(here, '../src/main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
