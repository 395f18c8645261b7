// Loaded into a server the bench profiles (node --import): between two SIGUSR2 the bench
// sends around its measured load, V8's CPU profiler (BENCH_PROFILE_KIND=cpu) or its
// sampling heap profiler, counting every allocation sampled, the objects collected since
// included (BENCH_PROFILE_KIND=allocations). The profile goes to the file named by
// BENCH_PROFILE. The profiler runs in the server's own thread (node:inspector), so nothing
// but the sampling is added to the run, and only the measured load is in the profile.
// Frames are given their places in the TypeScript sources before it is written
// (sourcePlaces).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { findSourceMap } from 'node:module';

const file = process.env.BENCH_PROFILE;
const PROFILERS = {
  // The interval `node --cpu-prof` samples at.
  cpu: { start: [['Profiler.enable'], ['Profiler.setSamplingInterval', { interval: 1000 }], ['Profiler.start']], stop: 'Profiler.stop', nodes: (p) => p.nodes },
  allocations: {
    start: [['HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }]],
    stop: 'HeapProfiler.stopSampling',
    nodes: (p) => treeNodes(p.head),
  },
};
const profiler = PROFILERS[process.env.BENCH_PROFILE_KIND];
if (!profiler) throw new Error(`BENCH_PROFILE_KIND: one of ${Object.keys(PROFILERS).join(', ')}`);
const session = new Session();
session.connect();
// A failure goes to the server's log, which the bench names when no profile comes.
const failed = (error) => { if (error) process.stderr.write(`profiler: ${error.message}\n`); };
let profiling = false;
process.on('SIGUSR2', () => {
  profiling = !profiling;
  if (profiling) {
    for (const [method, params] of profiler.start) session.post(method, params, failed);
    return;
  }
  session.post(profiler.stop, (error, result) => {
    if (error) failed(error);
    else writeFileSync(file, JSON.stringify(sourcePlaces(result.profile, profiler.nodes(result.profile))));
  });
});

function treeNodes(head) {
  const nodes = [];
  const walk = (node) => { nodes.push(node); node.children.forEach(walk); };
  walk(head);
  return nodes;
}

/**
 * The profile with each frame's line and column in its source where the module has a
 * source map (tsx gives each TypeScript module one, its code on a single line: unmapped,
 * every frame of a module would read line 1). Read here, in the server, where the maps are.
 */
function sourcePlaces(profile, nodes) {
  const maps = new Map();
  const mapOf = (url) => {
    if (!maps.has(url)) maps.set(url, url.startsWith('file:') ? findSourceMap(url) : undefined);
    return maps.get(url);
  };
  for (const { callFrame: frame } of nodes) {
    const entry = frame.url ? mapOf(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber) : undefined;
    if (entry && 'originalLine' in entry) {
      frame.lineNumber = entry.originalLine;
      frame.columnNumber = entry.originalColumn;
    }
  }
  return profile;
}
