// Loaded into the server of the bench's allocation run (node --import): V8's sampling heap
// profiler, counting every allocation sampled, the objects collected since included, between
// two SIGUSR2 the bench sends around its measured load. The profile goes to the file named
// by BENCH_ALLOC_PROFILE. The profiler runs in the server's own thread (node:inspector), so
// nothing but the sampling is added to the run. Frames are given their places in the
// TypeScript sources before the profile is written (sourcePlaces).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { findSourceMap } from 'node:module';

const file = process.env.BENCH_ALLOC_PROFILE;
const session = new Session();
session.connect();
let sampling = false;
process.on('SIGUSR2', () => {
  sampling = !sampling;
  if (sampling) {
    session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true },
      (error) => { if (error) process.stderr.write(`alloc-sampler: ${error.message}\n`); });
    return;
  }
  // A failure goes to the server's log, which the bench names when no profile comes.
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) process.stderr.write(`alloc-sampler: ${error.message}\n`);
    else writeFileSync(file, JSON.stringify(sourcePlaces(result.profile)));
  });
});

/**
 * The profile with each frame's line and column in its source where the module has a
 * source map (tsx gives each TypeScript module one, its code on a single line: unmapped,
 * every frame of a module would read line 1). Read here, in the server, where the maps are.
 */
function sourcePlaces(profile) {
  const maps = new Map();
  const mapOf = (url) => {
    if (!maps.has(url)) maps.set(url, url.startsWith('file:') ? findSourceMap(url) : undefined);
    return maps.get(url);
  };
  const walk = (node) => {
    const frame = node.callFrame;
    const entry = frame.url ? mapOf(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber) : undefined;
    if (entry && 'originalLine' in entry) {
      frame.lineNumber = entry.originalLine;
      frame.columnNumber = entry.originalColumn;
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  return profile;
}
