// What the drawing shows lit: the selected node's paths to the loss, and backward played from
// the loss to the parameters, a wave per level of the group graph (by node inside expanded
// groups).

import {
  announce,
  bp,
  bpLine,
  els,
  g,
  path,
  selected,
  setBackward,
  stopBtn,
  view,
} from "./state.js";
import { where } from "./words.js";

const WAVE_MS = 300; // one level of the group graph per wave: ~3 s for the default model

export function applyAll() {
  applyPath();
  applyBackward();
}

export function applyPath() {
  if (!els) return;
  view.classList.toggle("has-path", path !== null);
  for (const [gi, el] of els.boxes) {
    if (path) el.dataset.path = path.groups.has(gi) ? "on" : "off";
    else delete el.dataset.path;
  }
  for (const l of els.links) {
    const on = path !== null && l.pairs.some((p) => path.pairs.has(p.key));
    l.el.classList.toggle("on", on);
  }
  for (const [id, el] of els.nodes) {
    el.classList.toggle("sel", id === selected);
    if (path) el.dataset.path = path.nodes[id] ? "on" : "off";
    else delete el.dataset.path;
  }
  for (const { el, e } of els.edges) {
    const touches = selected !== null && (g.child[e] === selected || g.parent[e] === selected);
    el.classList.toggle("on", touches || (path !== null && path.nodes[g.child[e]] === 1));
    el.classList.toggle("near", touches);
  }
}

// The wave each group is reached in, and inside an expanded group the nodes one by one
// (newest first: a reverse topological order) over its wave.
function applyBackward() {
  if (!els) return;
  const on = bp.mode !== "idle";
  view.classList.toggle("playing", bp.mode === "playing");
  const wave = bp.mode === "done" ? Infinity : bp.t / WAVE_MS;
  const k = Math.floor(wave);
  const state = (level) => (level < k ? "reached" : level === k ? "active" : "waiting");
  for (const [gi, el] of els.boxes) {
    if (on) el.dataset.bp = state(g.groups[gi].level);
    else delete el.dataset.bp;
  }
  for (const l of els.links) {
    if (on) l.el.dataset.bp = g.groups[l.from].level <= k ? "reached" : "waiting";
    else delete l.el.dataset.bp;
  }
  const reached = new Uint8Array(g.n);
  for (const [id, el] of els.nodes) {
    if (!on) {
      delete el.dataset.bp;
      continue;
    }
    const gr = g.groups[g.group[id]];
    let st = state(gr.level);
    if (st === "active") {
      const rank = gr.nodes.length - 1 - gr.nodes.indexOf(id); // newest first
      st = rank < (wave - k) * gr.nodes.length ? "reached" : "waiting";
    }
    el.dataset.bp = st;
    if (st === "reached") reached[id] = 1;
  }
  for (const { el, e } of els.edges) {
    if (on) el.dataset.bp = reached[g.child[e]] ? "reached" : "waiting";
    else delete el.dataset.bp;
  }
  if (on) bpLine.textContent = waveText(k);
}

function waveText(k) {
  if (bp.mode === "done" || k >= g.levels) {
    return "Backward done: every node has its gradient, the parameters last.";
  }
  const names = [...new Set(g.groups.filter((x) => x.level === k).map((x) => where(x).replace(/^position \d+,? ?/, "")))];
  const head = bp.mode === "stopped" ? "Stopped at" : "Backward";
  return `${head} ${k + 1} of ${g.levels}: the gradient reaches ${names.slice(0, 3).join("; ")}${names.length > 3 ? "; …" : ""}`;
}

function reducedMotion() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

export function play() {
  if (!g) return;
  stopPlay();
  if (reducedMotion()) return skip();
  setBackward({ mode: "playing", t0: performance.now(), t: 0, raf: 0 });
  stopBtn.disabled = false;
  announce.textContent = "Playing backward from the loss…";
  tick(bp.t0);
}

function tick(now) {
  if (bp.mode !== "playing") return;
  bp.t = now - bp.t0;
  if (bp.t >= g.levels * WAVE_MS) return skip();
  applyBackward();
  bp.raf = requestAnimationFrame(tick);
}

export function skip() {
  if (!g) return;
  cancelAnimationFrame(bp.raf);
  setBackward({ mode: "done", t0: 0, t: Infinity, raf: 0 });
  stopBtn.disabled = true;
  applyBackward();
  announce.textContent = "Backward done: every parameter has its gradient.";
}

export function stop() {
  if (bp.mode !== "playing") return;
  cancelAnimationFrame(bp.raf);
  bp.mode = "stopped";
  stopBtn.disabled = true;
  applyBackward();
  announce.textContent = bpLine.textContent;
}

export function stopPlay() {
  cancelAnimationFrame(bp.raf);
  if (bp.mode === "playing") bp.mode = "stopped";
  stopBtn.disabled = true;
}
