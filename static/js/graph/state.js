// What the graph card's modules share: the graph on screen and what the reader did with it
// (live bindings: each is set here, through its setter, and read wherever it is imported), and
// the card's elements.

export let g = null; // the graph on screen, indexed (model.js)
export const expanded = new Set(); // the indexes of the groups shown as their nodes
export let selected = null; // a node id
export let path = null; // {nodes: Uint8Array, groups: Set, pairs: Set} of the selected node
export let bp = { mode: "idle", t0: 0, t: 0, raf: 0 }; // the backward animation (play.js)
export let els = null; // what draw.js drew: {boxes: Map, nodes: Map, links: [], edges: []}

export function setGraph(next) {
  g = next;
}

export function setSelection(id, itsPaths) {
  selected = id;
  path = itsPaths;
}

export function setBackward(next) {
  bp = next;
}

export function setDrawn(next) {
  els = next;
}

// The card's elements (templates/partials/graph_card.html), found once by findElements().
export let card = null;
export let details = null;
export let view = null;
export let stepLine = null;
export let newestBtn = null;
export let msg = null;
export let summary = null;
export let bpLine = null;
export let announce = null;
export let stopBtn = null;
export let paramInput = null;
export let paramList = null;
export let paramMsg = null;
export let inspector = null;
export let inspectTitle = null;
export let inspectBody = null;
export let tools = [];

export function findElements() {
  const $ = (id) => document.getElementById(id);
  card = $("graph-card");
  if (!card) return false;
  details = $("graph-details");
  view = $("graph-view");
  stepLine = $("graph-step");
  newestBtn = $("graph-newest");
  msg = $("graph-msg");
  summary = $("graph-summary");
  bpLine = $("graph-bp");
  announce = $("graph-announce");
  stopBtn = $("graph-stop");
  paramInput = $("graph-param");
  paramList = $("graph-param-list");
  paramMsg = $("graph-param-msg");
  inspector = $("graph-inspector");
  inspectTitle = $("h-graph-inspect");
  inspectBody = $("graph-inspect-body");
  tools = card.querySelectorAll(".graph-tools button, .graph-tools input");
  return true;
}
