/** The lock the CLI's commands refresh the stored session under, taken by real processes racing for it. */
import { spawn } from 'node:child_process';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../../../test/temp-dirs.js';

afterAll(removeTempDirs);

interface Held { file: string; enter: number; leave: number }

/** `count` processes of test/lock-holder.ts, each taking the lock of every file in turn; answers each process's holds once all are done. */
async function race(count: number, files: string[], holdMs: number, roundMs: number): Promise<Held[][]> {
  const holders = Array.from({ length: count }, () => spawn(process.execPath, ['--import', 'tsx', 'test/lock-holder.ts', String(holdMs), String(roundMs), ...files], {
    cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'],
  }));
  const outputs = holders.map((holder) => {
    let out = '';
    holder.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    return {
      ready: new Promise<void>((resolve) => holder.stdout!.on('data', () => { if (out.startsWith('ready\n')) resolve(); })),
      done: new Promise<Held[]>((resolve) => holder.once('close', () => resolve(out.split('\n').slice(1).filter(Boolean).map((line) => JSON.parse(line) as Held)))),
    };
  });
  await Promise.all(outputs.map((output) => output.ready));
  // Started together, as commands run by `xargs -P` are.
  const start = Date.now() + 200;
  for (const holder of holders) holder.stdin!.end(`${start}\n`);
  return Promise.all(outputs.map((output) => output.done));
}

describe('withFileLock', () => {
  it('one process at a time holds it, also when several break the same stale lock at once', async () => {
    const dir = tempDir('lock');
    const processes = 8;
    const holdMs = 100;
    const files = Array.from({ length: 10 }, (_, round) => join(dir, `credentials-${round}.json`));
    const longAgo = new Date(Date.now() - 60_000);
    for (const file of files) {
      writeFileSync(`${file}.lock`, ''); // left by a command that died a minute ago
      utimesSync(`${file}.lock`, longAgo, longAgo);
    }

    const holds = (await race(processes, files, holdMs, processes * holdMs + 500)).flat();

    expect(holds).toHaveLength(processes * files.length);
    for (const file of files) {
      const inTurn = holds.filter((held) => held.file === file).sort((a, b) => a.enter - b.enter);
      const overlapping = inTurn.filter((held, i) => i > 0 && held.enter < inTurn[i - 1]!.leave);
      expect(overlapping, `two holders of ${file} at once`).toEqual([]);
    }
  }, 40_000);

  it('a holder interrupted the instant its lock exists removes it: its handlers are in place before the lock is made', async () => {
    const file = join(tempDir('lock'), 'credentials.json');
    const holder = spawn(process.execPath, ['--import', 'tsx', 'test/lock-interrupted.ts', file], { cwd: process.cwd(), stdio: ['ignore', 'inherit', 'inherit'] });

    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => holder.once('exit', (...ended) => resolve(ended)));

    // Killed by the signal's default action, it would leave the lock for the next commands to wait 30 s out.
    expect([code, signal, existsSync(`${file}.lock`)]).toEqual([143, null, false]);
  });
});
