import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

/** A fresh directory under the run's TMPDIR; removeTempDirs() deletes it (the run fails on leftovers, test/global-setup.ts). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tollgate-${prefix}-`));
  made.add(dir);
  return dir;
}

/** Deletes every directory tempDir() made in this test file; call it from afterEach or afterAll. */
export function removeTempDirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}
