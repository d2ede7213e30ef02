// The drawing: the groups as boxes in their lanes (SVG), the bundled lines between them, the
// bands of expanded groups with their nodes; on a narrow page the lanes as lists (list.js).

import { thousands as count } from "../format.js";
import { EDGE_LIMIT, NODE_H, NODE_W, bandEdges, layout, stageSpan } from "./layout.js";
import { renderList } from "./list.js";
import { applyAll } from "./play.js";
import { card, els, expanded, g, setDrawn, view } from "./state.js";
import { ariaOf, describe, fmt, fmtLong, nodeLabel, nodeName, tok, where } from "./words.js";

const SVG = "http://www.w3.org/2000/svg";
const NARROW = 760; // below this width: lanes as lists instead of the drawing
let lastWidth = 0; // the width it was drawn for

function s(tag, attrs, parent, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  if (parent) parent.append(el);
  return el;
}

function fit(text, width, px = 6.1) {
  const max = Math.max(3, Math.floor(width / px));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// The graph on screen, drawn anew for its state (what is expanded, selected, lit).
export function render() {
  if (!g) return;
  const keep = focusKey();
  const width = view.clientWidth || card.clientWidth || 1200;
  lastWidth = width;
  setDrawn({ boxes: new Map(), nodes: new Map(), links: [], edges: [] });
  if (width < NARROW) renderList();
  else renderSvg(width);
  view.dataset.mode = width < NARROW ? "list" : "svg";
  applyAll();
  restoreFocus(keep);
}

function renderSvg(width) {
  const L = layout(width);
  const svg = s("svg", {
    width: L.width,
    height: L.height,
    viewBox: `0 0 ${L.width} ${L.height}`,
    role: "group",
    "aria-labelledby": "h-graph",
    "aria-describedby": "graph-summary",
    class: "graph-svg",
  });
  drawFrame(svg, L);
  const links = s("g", { class: "links" }, svg);
  drawLinks(links, L);
  const boxes = s("g", { class: "boxes" }, svg);
  for (const gr of g.groups) if (L.boxes.has(gr.i)) drawBox(boxes, gr, L.boxes.get(gr.i));
  for (const b of L.bands) drawBand(svg, b);
  view.replaceChildren(svg);
}

const COL_TITLE = {
  params: "parameters (used)",
  embed: "embed",
  logits: "logits",
  xent: "−log p",
  mean: "mean loss",
  other: "other",
};

function drawFrame(svg, L) {
  const span = stageSpan(L.cols);
  const multi = new Set(g.groups.filter((x) => x.layer !== undefined).map((x) => x.layer)).size > 1;
  for (const [k, c] of L.cols.at) {
    const [, layer, stage] = k.match(/^L(\d+)\/(.+)$/) || [];
    let title = COL_TITLE[k];
    if (stage) title = { qkv: "q k v", heads: "attention heads", out: "attn out", mlp: "MLP" }[stage];
    if (stage && multi) title += ` (layer ${layer})`;
    s("text", { x: c.x + 2, y: 16, class: "col-title" }, svg, fit(title, c.w + 20));
  }
  for (const lane of L.lanes) {
    s("rect", { x: span.x0, y: lane.y, width: span.x1 - span.x0, height: lane.h + 4, rx: 9, class: "lane" }, svg);
    const label = `pos ${lane.pos} · reads ‘${tok(g, lane.pos)}’ → ‘${tok(g, lane.pos + 1)}’`;
    s("text", { x: span.x0 + 6, y: lane.y + 12, class: "lane-title" }, svg, label);
  }
}

// One line per pair of groups, with its count; within a lane a line to the next column, an
// arc over the top when it skips columns (the residual stream); keys and values read by a
// later position run down a bus between q k v and the heads, one line per pair of positions;
// a parameter matrix's lines show only while it is pointed at or on a selected path.
function drawLinks(parent, L) {
  const bus = new Map();
  for (const p of g.pairs.values()) {
    const A = g.groups[p.a];
    const B = g.groups[p.b];
    const a = L.boxes.get(p.a);
    const b = L.boxes.get(p.b);
    if (!a || !b) continue;
    if (A.kind === "param") {
      link(parent, [p], curve(a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2), "param", A, B);
    } else if (A.pos !== undefined && B.pos !== undefined && A.pos !== B.pos) {
      const key = `${p.a}>${B.pos}`; // bundled over the heads
      if (!bus.has(key)) bus.set(key, { pairs: [], A, B, a, b });
      bus.get(key).pairs.push(p);
    } else if (A.pos !== undefined && B.pos !== undefined) {
      const skip = L.cols.at.get(B.col).i - L.cols.at.get(A.col).i > 1;
      const d = skip ? arc(a, b) : curve(a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2);
      const fan = A.kind === "head" || B.kind === "head";
      link(parent, [p], d, skip ? "skip" : fan ? "fan" : "lane", A, B, !fan);
    } else {
      link(parent, [p], curve(a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2), "lane", A, B);
    }
  }
  for (const { pairs, A, B, a } of bus.values()) {
    const heads = pairs.map((p) => L.boxes.get(p.b));
    const top = Math.min(...heads.map((h) => h.y));
    const bottom = Math.max(...heads.map((h) => h.y + h.h));
    const x1 = a.x + a.w;
    const xb = x1 + 5 + 3 * (A.pos % 5);
    const y2 = (top + bottom) / 2 + 4 * (A.pos % 3) - 4;
    const d = `M${x1},${a.y + a.h / 2 + 10}H${xb}V${y2}H${heads[0].x}`;
    link(parent, pairs, { d, mid: null }, "bus", A, B);
  }
}

// A path and its midpoint (where its count goes): a cubic's point at t = ½ is
// (P0 + 3·P1 + 3·P2 + P3) / 8.
function curve(x1, y1, x2, y2) {
  const dx = Math.max(12, (x2 - x1) / 2);
  const d = `M${x1},${y1}C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
  return { d, mid: { x: (x1 + x2) / 2, y: (y1 + y2) / 2 } };
}

function arc(a, b) {
  const [x1, y1, x2, y2] = [a.x + a.w, a.y + 12, b.x, b.y + 12];
  const top = Math.min(a.y, b.y) - 12;
  const d = `M${x1},${y1}C${x1 + 40},${top} ${x2 - 40},${top} ${x2},${y2}`;
  return { d, mid: { x: (x1 + x2) / 2, y: (y1 + 6 * top + y2) / 8 } };
}

function link(parent, pairs, { d, mid }, kind, A, B, labelled = true) {
  const total = pairs.reduce((n, p) => n + p.count, 0);
  const el = s("g", { class: `glink ${kind}`, "data-from": A.i }, parent);
  const what = kind === "bus" ? `the heads of position ${B.pos}` : where(B);
  s("title", {}, el, `${where(A)} → ${what}: ${count(total)} edge${total === 1 ? "" : "s"}`);
  s("path", { d }, el);
  if (labelled && mid && total > 1 && kind !== "param") {
    s("text", { x: mid.x, y: mid.y - 3, class: "count" }, el, `×${count(total)}`);
  }
  els.links.push({ el, pairs, from: A.i });
}

function drawBox(parent, gr, r) {
  const d = describe(gr);
  const open = expanded.has(gr.i);
  const el = s("g", {
    class: `gbox k-${gr.kind}`,
    "data-group": gr.i,
    "data-name": gr.name,
    role: "button",
    tabindex: 0,
    "aria-expanded": open,
    "aria-label": ariaOf(gr, d),
  }, parent);
  s("title", {}, el, `${gr.name}\n${d.lines.join("\n")}\n${d.grad}`);
  s("rect", { x: r.x, y: r.y, width: r.w, height: r.h, rx: gr.kind === "head" ? 5 : 8, class: "frame" }, el);
  if (gr.kind === "head") return headRow(el, gr, d, r);
  const tail = `${d.count} ${open ? "▾" : "▸"}`;
  s("text", { x: r.x + 7, y: r.y + 16, class: "t1" }, el, fit(d.title, r.w - 18 - 6 * tail.length, 6.6));
  s("text", { x: r.x + r.w - 7, y: r.y + 16, class: "mark", "text-anchor": "end" }, el, tail);
  const step = (r.h - 30) / 3;
  d.lines.forEach((line, k) => {
    s("text", { x: r.x + 7, y: r.y + 16 + step * (k + 1), class: "t2" }, el, fit(line, r.w - 12));
  });
  s("text", { x: r.x + 7, y: r.y + r.h - 9, class: "gl" }, el, fit(d.grad, r.w - 12));
  els.boxes.set(gr.i, el);
}

// A head in one row: its name, its attention weights as bars (one per position it reads),
// the largest weight, and its output gradient.
function headRow(el, gr, d, r) {
  const mid = r.y + r.h / 2 + 4;
  s("text", { x: r.x + 6, y: mid, class: "t1" }, el, d.title);
  const w = d.weights;
  const bar = Math.min(7, 48 / Math.max(1, w.length));
  w.forEach((v, q) => {
    const h = Math.max(1, v * (r.h - 5));
    s("rect", { x: r.x + 24 + q * bar, y: r.y + r.h - 2.5 - h, width: bar - 1.5, height: h, class: "wbar" }, el);
  });
  if (d.top) s("text", { x: r.x + 76, y: mid, class: "t2" }, el, d.top.w.toFixed(2));
  s("text", { x: r.x + r.w - 6, y: mid, class: "gl", "text-anchor": "end" }, el, d.grad);
  els.boxes.set(gr.i, el);
}

function drawBand(svg, b) {
  const el = s("g", { class: "band", "data-band": b.gr.i, "data-name": b.gr.name }, svg);
  s("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx: 9, class: "band-bg" }, el);
  const shown = b.at.size;
  const title =
    `${b.gr.name}: ${count(b.gr.nodes.length)} nodes` +
    (b.more > 0 ? `, the first ${shown}` : "") +
    " · left to right by depth · press a node for the chain rule";
  s("text", { x: b.x + 10, y: b.y + 17, class: "band-title" }, el, title);
  const edges = s("g", { class: "band-edges" }, el);
  const inBand = bandEdges(b.at);
  const all = inBand.length <= EDGE_LIMIT;
  for (const e of inBand) {
    const c = b.at.get(g.child[e]);
    const p = b.at.get(g.parent[e]);
    // packed in one column (a chain of short depths): straight down, else left to right
    const d =
      c.x === p.x
        ? `M${c.x + NODE_W / 2},${c.y + NODE_H}V${p.y}`
        : curve(c.x + NODE_W, c.y + NODE_H / 2, p.x, p.y + NODE_H / 2).d;
    const line = s("path", { d }, edges);
    if (!all) line.classList.add("if-selected");
    els.edges.push({ el: line, e });
  }
  for (const [id, at] of b.at) drawNode(el, id, at);
  if (b.more > 0) {
    s("text", { x: b.x + b.w - 10, y: b.y + b.h - 6, class: "more", "text-anchor": "end" }, el,
      `… ${count(b.more)} more (not drawn)`);
  }
  if (!all) {
    s("text", { x: b.x + 10, y: b.y + b.h - 6, class: "more" }, el,
      `${count(inBand.length)} edges among these: a node’s own are drawn when it is selected`);
  }
}

function drawNode(parent, id, at) {
  const el = s("g", {
    class: "gnode",
    "data-node": id,
    "data-value": g.value[id],
    "data-grad": g.grad[id],
    role: "button",
    tabindex: 0,
    "aria-label": `${nodeLabel(id)}: value ${fmtLong(g.value[id])}, gradient ${fmtLong(g.grad[id])}. Press for the chain rule.`,
  }, parent);
  s("title", {}, el, `${nodeLabel(id)} (${g.groups[g.group[id]].name})`);
  s("rect", { x: at.x, y: at.y, width: NODE_W, height: NODE_H, rx: 5, class: "frame" }, el);
  s("text", { x: at.x + 6, y: at.y + 14, class: "op" }, el, fit(nodeName(id), 50));
  s("text", { x: at.x + NODE_W - 6, y: at.y + 14, class: "v", "text-anchor": "end" }, el, fmt(g.value[id]));
  s("text", { x: at.x + 6, y: at.y + 28, class: "gl" }, el, `∂ ${fmt(g.grad[id])}`);
  els.nodes.set(id, el);
}

// Focus across a redraw: the box or node that had it gets it back.
function focusKey() {
  const el = document.activeElement;
  if (!el || !view.contains(el)) return null;
  if (el.dataset.node !== undefined) return `[data-node="${el.dataset.node}"]`;
  if (el.dataset.group !== undefined) return `[data-group="${el.dataset.group}"]`;
  if (el.dataset.lane !== undefined) return `[data-lane="${el.dataset.lane}"]`;
  return null;
}

function restoreFocus(key) {
  if (key) view.querySelector(key)?.focus({ preventScroll: true });
}

// A new width draws it again (the narrow page's lists below NARROW).
export function redrawOnResize() {
  new ResizeObserver(() => {
    const w = view.clientWidth;
    if (!g || view.hidden || Math.abs(w - lastWidth) < 24) return;
    lastWidth = w;
    requestAnimationFrame(render);
  }).observe(view);
}
