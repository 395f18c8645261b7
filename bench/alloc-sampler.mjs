// Loaded into the server of the bench's allocation run (node --import): V8's sampling heap
// profiler, counting every allocation sampled, the objects collected since included, between
// two SIGUSR2 the bench sends around its measured load. The profile goes to the file named
// by BENCH_ALLOC_PROFILE. The profiler runs in the server's own thread (node:inspector), so
// nothing but the sampling is added to the run.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

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
    else writeFileSync(file, JSON.stringify(result.profile));
  });
});
