// A flame graph of a V8 CPU profile (the profile bench/profiler.mjs takes of a run's
// measured part) as one self-contained SVG, and the frames that cost the most themselves.
// The profile's call tree is drawn as it is: a frame's width is the samples taken in it
// and everything it called; hover a frame for its share. Idle time (waiting on the network
// and the database) is left out of the drawing and reported in its title, so the graph
// shows where the CPU went.

const WIDTH = 1200;
const ROW = 17;
const MIN_WIDTH = 1; // px: narrower frames are not drawn (their time stays in the parent's width)

/** A frame's name: the function and where it is, paths from the repository root. */
export function label(callFrame) {
  const name = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return name;
  const where = callFrame.url.replace(/^file:\/\//, '').replace(/^.*?\/(node_modules\/)/, '$1').replace(/^.*?\/((server|bench|sdk)\/)/, '$1');
  return `${name} ${where}:${callFrame.lineNumber + 1}`;
}

function colour(callFrame) {
  const url = callFrame.url ?? '';
  if (url.includes('/node_modules/')) return '#e8c547';          // libraries
  if (url.includes('/server/src/') || url.includes('/bench/')) return '#e8743b'; // Tollgate
  if (url.startsWith('node:') || url === '') return '#7fa7d9';   // Node and V8 (GC, program)
  return '#c9a0dc';
}

/** The call tree with each node's total samples (itself and below), idle removed. */
function tree(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, { ...n, total: 0, kids: [] }]));
  for (const n of byId.values()) n.kids = (n.children ?? []).map((id) => byId.get(id)).filter((k) => k.callFrame.functionName !== '(idle)');
  const sum = (n) => (n.total = n.hitCount + n.kids.reduce((s, k) => s + sum(k), 0));
  const root = byId.get(profile.nodes[0].id);
  sum(root);
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((s, n) => s + n.hitCount, 0);
  return { root, idle };
}

const escape = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The SVG text of the flame graph, `title` above it. */
export function flameGraphSvg(profile, title) {
  const { root, idle } = tree(profile);
  const all = root.total + idle;
  const scale = WIDTH / Math.max(1, root.total);
  const rects = [];
  let depth = 0;
  const draw = (node, x, level) => {
    const w = node.total * scale;
    if (w < MIN_WIDTH) return;
    depth = Math.max(depth, level);
    const name = label(node.callFrame);
    const share = `${((node.total / all) * 100).toFixed(2)} % of all samples, ${((node.hitCount / all) * 100).toFixed(2)} % in itself`;
    const chars = Math.floor((w - 4) / 6.6);
    const text = chars >= 3 ? (name.length > chars ? `${name.slice(0, chars - 1)}…` : name) : '';
    rects.push({ x, level, w, name, share, text, fill: colour(node.callFrame) });
    let cx = x;
    for (const kid of node.kids) { draw(kid, cx, level + 1); cx += kid.total * scale; }
  };
  draw(root, 0, 0);
  const top = 40;
  const height = top + (depth + 1) * ROW + 10;
  const y = (level) => height - 10 - (level + 1) * ROW;
  const body = rects.map((r) => `<g><title>${escape(`${r.name}\n${r.share}`)}</title>` +
    `<rect x="${r.x.toFixed(2)}" y="${y(r.level)}" width="${r.w.toFixed(2)}" height="${ROW - 1}" fill="${r.fill}" rx="2"/>` +
    (r.text ? `<text x="${(r.x + 3).toFixed(2)}" y="${y(r.level) + 12}">${escape(r.text)}</text>` : '') + '</g>').join('\n');
  const idleShare = ((idle / Math.max(1, all)) * 100).toFixed(1);
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="monospace" font-size="11">
<rect width="100%" height="100%" fill="#fdfdf8"/>
<text x="4" y="16" font-size="14">${escape(title)}</text>
<text x="4" y="32" fill="#555">${all} samples; idle (waiting) ${idleShare} %, left out. Orange: Tollgate · yellow: libraries · blue: Node, V8, garbage collector. Hover a frame.</text>
${body}
</svg>
`;
}

/** The `n` frames with the most samples in themselves, as {frame, selfShare}: a share of the samples not idle, in %. */
export function hottestFrames(profile, n = 15) {
  const { root } = tree(profile);
  const self = new Map();
  const visit = (node) => {
    const key = label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + node.hitCount);
    for (const kid of node.kids) visit(kid);
  };
  visit(root);
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([frame, samples]) => ({ frame, selfShare: (samples / Math.max(1, root.total)) * 100 }));
}
