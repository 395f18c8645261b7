// The paced run's clock (load.mjs loadPaced), in a worker thread: it sleeps until each
// request is due and posts how many are due by then. Atomics.wait sleeps to the
// microsecond, where Node's timers fire a millisecond apart at best, and a request sent
// late by the load generator's own timer would count as time the server added.
import { parentPort, workerData } from 'node:worker_threads';

const { rate, total } = workerData;
const now = () => performance.timeOrigin + performance.now();
const sleeper = new Int32Array(new SharedArrayBuffer(4));

// The run starts when the load generator says (this thread is up by then, so its start-up
// delays no request), at an instant on the clock both threads read.
parentPort.once('message', ({ startAt }) => {
  const dueAt = (i) => startAt + (i * 1000) / rate;
  let next = 0;
  while (next < total) {
    const wait = dueAt(next) - now();
    if (wait > 0) {
      Atomics.wait(sleeper, 0, 0, wait);
      continue;
    }
    const at = now();
    while (next < total && dueAt(next) <= at) next++;
    parentPort.postMessage(next);
  }
  parentPort.close();
});
parentPort.postMessage('ready');
