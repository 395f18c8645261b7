/** One real Tollgate for the whole run; the suites read its URL with inject('tollgateUrl'). */
import type { TestProject } from 'vitest/node';
import { suiteConfig } from './config.js';
import { startTollgate } from './tollgate-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    tollgateUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  console.log('\n[sdk] starting a Tollgate server process on embedded PGlite for the SDK suites\n');
  const server = await startTollgate(suiteConfig());
  project.provide('tollgateUrl', server.url);
  return () => server.stop();
}
