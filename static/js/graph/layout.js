// Where the drawing puts everything: the parameters on the left, one lane per position
// (embedding → q k v → heads → attn out → MLP → logits → −log p), the mean loss on the right;
// an expanded group's nodes in a band under its lane, left to right by depth.

import { expanded, g, selected } from "./state.js";

const SMALL = 60; // a group this size or smaller shows all its nodes when expanded
const FIRST = 40; // a larger one shows its first FIRST (and the selected node), "… N more"
export const EDGE_LIMIT = 120; // in-group edges drawn when this few; else only the selected node's

export const PAD = 8;
const HEADER = 26;
const LABEL = 17;
const BOX_H = 80;
const LANE_GAP = 12;
const PARAM_H = 70;
export const NODE_W = 108;
export const NODE_H = 34;
const NODE_GAP = 16;

function columns(width) {
  const keys = new Set(g.groups.map((x) => x.col));
  const layers = [...new Set(g.groups.filter((x) => x.layer !== undefined).map((x) => x.layer))];
  layers.sort((a, b) => a - b);
  const order = ["params", "embed"];
  for (const l of layers) order.push(`L${l}/qkv`, `L${l}/heads`, `L${l}/out`, `L${l}/mlp`);
  order.push("logits", "xent", "other", "mean");
  const cols = order.filter((k) => keys.has(k));
  const w = (k) => (k === "params" ? 140 : k.endsWith("heads") ? 180 : 96);
  const widths = cols.reduce((s, k) => s + w(k), 0);
  const gap = Math.max(20, Math.min(60, (width - 2 * PAD - widths) / (cols.length - 1)));
  const at = new Map();
  let x = PAD;
  cols.forEach((k, i) => {
    at.set(k, { x, w: w(k), i });
    x += w(k) + gap;
  });
  return { at, gap, width: x - gap + PAD, titles: cols };
}

// Where every box, lane and band goes. Bands (expanded groups) sit under their lane, those
// of the parameters and the loss under everything; a band pushes the lanes below it down.
export function layout(width) {
  const cols = columns(width);
  const L = { cols, boxes: new Map(), lanes: [], bands: [], width: cols.width };
  const lanePos = [...new Set(g.groups.filter((x) => x.pos !== undefined).map((x) => x.pos))];
  lanePos.sort((a, b) => a - b);
  const stage = stageSpan(cols);
  let y = HEADER;
  for (const p of lanePos) {
    const lane = { pos: p, y, h: LABEL + BOX_H };
    L.lanes.push(lane);
    for (const gr of g.groups.filter((x) => x.pos === p)) placeInLane(L, gr, lane);
    y += lane.h + LANE_GAP;
    for (const gr of g.groups.filter((x) => x.pos === p && expanded.has(x.i))) {
      y = band(L, gr, stage, y) + LANE_GAP;
    }
  }
  const mats = g.groups.filter((x) => x.pos === undefined && x.kind !== "mean");
  const side = cols.at.get("params") || cols.at.get("other");
  mats.forEach((gr, i) => {
    const c = cols.at.get(gr.col) || side;
    L.boxes.set(gr.i, { x: c.x, y: HEADER + i * (PARAM_H + 10), w: c.w, h: PARAM_H });
  });
  const lanesEnd = L.lanes.length ? L.lanes[L.lanes.length - 1].y + LABEL + BOX_H : HEADER;
  const mean = g.groups.find((x) => x.kind === "mean");
  if (mean) {
    const c = cols.at.get("mean");
    const mid = (HEADER + LABEL + lanesEnd) / 2;
    L.boxes.set(mean.i, { x: c.x, y: mid - BOX_H / 2, w: c.w, h: BOX_H });
  }
  y = Math.max(y, HEADER + mats.length * (PARAM_H + 10)) + 4;
  for (const gr of g.groups.filter((x) => x.pos === undefined && expanded.has(x.i))) {
    y = band(L, gr, { x0: PAD, x1: L.width - PAD }, y) + LANE_GAP;
  }
  L.height = y + PAD;
  return L;
}

// The lanes' horizontal extent: from the first stage column to the last before the loss.
export function stageSpan(cols) {
  const inLane = [...cols.at].filter(([k]) => k !== "params" && k !== "mean" && k !== "other");
  const first = inLane[0][1];
  const last = inLane[inLane.length - 1][1];
  return { x0: first.x - 6, x1: last.x + last.w + 6 };
}

function placeInLane(L, gr, lane) {
  const c = L.cols.at.get(gr.col);
  if (!c) return;
  const top = lane.y + LABEL;
  if (gr.kind !== "head") {
    L.boxes.set(gr.i, { x: c.x, y: top, w: c.w, h: BOX_H });
    return;
  }
  const heads = g.groups.filter((x) => x.kind === "head" && x.pos === gr.pos && x.layer === gr.layer);
  const hh = (BOX_H - 3 * (heads.length - 1)) / heads.length;
  const k = heads.indexOf(gr);
  L.boxes.set(gr.i, { x: c.x, y: top + k * (hh + 3), w: c.w, h: hh });
}

// The nodes a band shows: all of a small group, else its first FIRST and the selected one.
export function shownNodes(gr) {
  if (gr.nodes.length <= SMALL) return gr.nodes;
  const first = gr.nodes.slice(0, FIRST);
  if (selected !== null && g.group[selected] === gr.i && !first.includes(selected)) {
    first.push(selected);
  }
  return first;
}

// Depth inside the group: 0 for a node that reads only other groups, else one more than
// its deepest input in the group. Columns go left to right by depth; a tall depth wraps
// into several columns, and short depths in a row share one, top to bottom (rmsnorm's
// dot → * → + → pow); the fewest rows whose columns fit the band's width.
function band(L, gr, span, y) {
  const nodes = shownNodes(gr);
  const depth = new Map();
  for (const id of gr.nodes) {
    let d = 0;
    for (let k = g.down.start[id]; k < g.down.start[id + 1]; k++) {
      const c = g.child[g.down.edges[k]];
      if (depth.has(c)) d = Math.max(d, depth.get(c) + 1);
    }
    depth.set(id, d);
  }
  const byDepth = new Map();
  for (const id of nodes) {
    const d = depth.get(id);
    if (!byDepth.has(d)) byDepth.set(d, []);
    byDepth.get(d).push(id);
  }
  const stacks = [...byDepth].sort((a, b) => a[0] - b[0]).map(([, ids]) => ids);
  const maxCols = Math.max(1, Math.floor((span.x1 - span.x0 - 16 + NODE_GAP) / (NODE_W + NODE_GAP)));
  const tallest = Math.max(...stacks.map((ids) => ids.length));
  let rows = Math.min(4, tallest);
  while (rows < tallest && placeNodes(stacks, rows).cols > maxCols) rows++;
  const { cells, cols } = placeNodes(stacks, rows);
  const at = new Map();
  const top = y + 26;
  for (const [id, [c, r]] of cells) {
    at.set(id, { x: span.x0 + 8 + c * (NODE_W + NODE_GAP), y: top + r * (NODE_H + 6) });
  }
  const more = gr.nodes.length - nodes.length;
  const foot = more > 0 || bandEdges(at).length > EDGE_LIMIT; // a line of notes under it
  const h = 26 + rows * (NODE_H + 6) + (foot ? 18 : 4);
  // more depths than columns fit: the band (and the drawing) grows wider and scrolls
  const w = Math.max(span.x1 - span.x0, 16 + cols * (NODE_W + NODE_GAP) - NODE_GAP);
  L.bands.push({ gr, x: span.x0, y, w, h, at, more });
  L.width = Math.max(L.width, span.x0 + w + PAD);
  return y + h;
}

// Node id -> [column, row] for depth stacks in `rows` rows: a stack taller than the rows
// wraps over whole columns of its own; shorter ones share a column while they fit.
function placeNodes(stacks, rows) {
  const cells = new Map();
  let col = -1;
  let fill = rows; // the current column's rows in use (full: the next stack starts a column)
  for (const ids of stacks) {
    if (ids.length < rows && fill + ids.length <= rows) {
      ids.forEach((id, k) => cells.set(id, [col, fill + k]));
      fill += ids.length;
      continue;
    }
    ids.forEach((id, k) => cells.set(id, [col + 1 + Math.floor(k / rows), k % rows]));
    col += Math.ceil(ids.length / rows);
    fill = ids.length < rows ? ids.length : rows; // a wrapped stack's columns are its own
  }
  return { cells, cols: col + 1 };
}

// The edges between the nodes a band shows.
export function bandEdges(at) {
  const out = [];
  for (const id of at.keys()) {
    for (let k = g.down.start[id]; k < g.down.start[id + 1]; k++) {
      const e = g.down.edges[k];
      if (at.has(g.child[e])) out.push(e);
    }
  }
  return out;
}
