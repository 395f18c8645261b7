// What a decision allocates, from a sampling heap profile (profiler.mjs): bytes per
// decision, by where the code is (Tollgate's own, each dependency, Node's own modules) and
// by the functions that allocated most themselves. Unlike CPU time most runs repeat it
// within ~1 % on a busy machine (now and then one comes out ~6 % higher), so a change of a
// few percent shows in it — between runs of similar throughput: what a batch statement
// allocates is shared by the batch's decisions, so the figure grows as batches shrink (on
// a machine several times slower, runs at 951 and 690 req/s gave 44.7 and 55.1 KB). A
// function's own line moves less, as most of them are per decision.
import { label } from './flame.mjs';

/** Where a frame's code is: Tollgate's (`server/src`), a package's name, Node.js's own modules, or V8's built-ins (no script). */
function sourceOf(url) {
  if (!url) return 'V8 built-ins (JSON, strings, arrays, promises)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.includes('/server/src/')) return 'server/src';
  if (url.startsWith('node:')) return 'Node.js (HTTP, sockets, streams)';
  return '(other)';
}

/** `profile` over `decisions`: bytes per decision in all, by source, and the top `top` frames of Tollgate's own code. */
export function readAllocations(profile, decisions, top = 8) {
  let total = 0;
  const bySource = new Map();
  const ownFrames = new Map();
  const walk = (node) => {
    if (node.selfSize > 0) {
      total += node.selfSize;
      const source = sourceOf(node.callFrame.url);
      bySource.set(source, (bySource.get(source) ?? 0) + node.selfSize);
      if (source === 'server/src') {
        const frame = label(node.callFrame);
        ownFrames.set(frame, (ownFrames.get(frame) ?? 0) + node.selfSize);
      }
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const perDecision = (entries) => [...entries].sort((a, b) => b[1] - a[1]).map(([name, bytes]) => ({ name, bytes: bytes / decisions }));
  return { decisions, bytesPerDecision: total / decisions, bySource: perDecision(bySource), own: perDecision(ownFrames).slice(0, top) };
}
