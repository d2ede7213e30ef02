// The graph of one step (templates/partials/graph_card.html): every scalar one training step
// computed (GET /api/graph), drawn the way a learner reads the model (draw.js). Groups start
// collapsed (one box each, edges between boxes bundled into one line with a count); a box
// expands to its scalar nodes.
//
// Three ways in: "Play backward" lights the groups from the loss back to the parameters
// (play.js); a selected node shows the chain rule with its numbers (inspect.js); a selected
// parameter lights every path from it to the loss.
//
// Nothing is fetched until the card is opened; then one fetch per step shown: the step the
// page views (html[data-view], `view-change` events), else the newest. Training steps arriving
// meanwhile only offer "Show the newest step".

import { API, fetchJSON } from "../api.js";
import { chartTrim, paramSelected, point, viewChange } from "../events.js";
import { thousands as count } from "../format.js";
import { shownStep, wantedStep } from "../view.js";
import { redrawOnResize, render } from "./draw.js";
import { inspect } from "./inspect.js";
import { pickLane } from "./list.js";
import { index, pathsFrom } from "./model.js";
import { play, skip, stop, stopPlay } from "./play.js";
import {
  details,
  els,
  expanded,
  findElements,
  g,
  inspectBody,
  msg,
  newestBtn,
  paramInput,
  paramList,
  paramMsg,
  selected,
  setBackward,
  setDrawn,
  setGraph,
  setSelection,
  stepLine,
  stopBtn,
  summary,
  bpLine,
  tools,
  view,
} from "./state.js";
import { describeGraph, fmtLong } from "./words.js";

// The viewed step must hold this long before its graph is asked for: a drag along the
// timeline changes it every 150 ms, and the server builds every graph asked for (~0.3 s of its
// CPU, which it cannot take back when the page stops waiting).
const SETTLE_MS = 350;

let loading = null; // the AbortController of the fetch on its way
let loadingFor = null; // the step it asked for (null: the newest)
let newest = null; // the newest step the stream has told of (null: unknown)
let pendingParam = null; // a parameter chosen in the Parameters panel before a graph came
let settle = 0; // the timer of a view change waiting to hold

// The past step the page views, or null: live (the newest).
const viewStep = () => shownStep() ?? wantedStep();

async function load(step) {
  loading?.abort();
  const ctl = new AbortController();
  loading = ctl;
  loadingFor = step;
  stopPlay();
  say(step === null ? "Loading the newest step’s graph…" : `Loading step ${count(step)}’s graph…`);
  try {
    const url = step === null ? `${API}/graph` : `${API}/graph?step=${step}`;
    const { ok, status, headers, body } = await fetchJSON(url, { signal: ctl.signal });
    if (!ok) {
      if (ctl === loading) failed(status, body?.detail);
      return;
    }
    if (ctl !== loading) return;
    shown(index(body), step, Number(headers.get("content-length")) || 0);
  } catch (e) {
    if (e.name !== "AbortError" && ctl === loading) {
      failed(0, "The server did not answer; close and open the card to try again.");
    }
  } finally {
    if (loading === ctl) loading = null;
  }
}

function shown(next, asked, sent) {
  // the same groups stay open, and the same parameter selected, from one step to another
  const open = g ? [...expanded].map((i) => g.groups[i].name) : [];
  const param = g && selected !== null ? g.label[selected] : null;
  setGraph(next);
  g.asked = asked;
  g.sent = sent;
  newest = Math.max(newest ?? 0, g.step);
  expanded.clear();
  const byName = new Map(g.groups.map((gr) => [gr.name, gr.i]));
  for (const name of open) if (byName.has(name)) expanded.add(byName.get(name));
  setSelection(null, null);
  if (param && !pendingParam) pendingParam = param;
  setBackward({ mode: "idle", t0: 0, t: 0, raf: 0 });
  view.hidden = false;
  for (const el of tools) el.disabled = false;
  stopBtn.disabled = true;
  paramList.replaceChildren(...[...g.params.keys()].map((name) => new Option(name)));
  stepLine.dataset.step = String(g.step);
  stepLine.textContent =
    `step ${count(g.step)} · learned “${g.doc}” · loss ${fmtLong(g.value[g.loss])} · ` +
    `${count(g.n)} scalar nodes, ${count(g.m)} edges` +
    (sent ? ` (${(sent / 2 ** 20).toFixed(1)} MB sent)` : "");
  summary.textContent = describeGraph();
  say("");
  bpLine.textContent = "";
  paramMsg.textContent = "";
  render();
  inspect();
  offerNewest();
  applyPending();
}

function applyPending() {
  if (!g || !pendingParam) return;
  const name = pendingParam;
  pendingParam = null;
  paramInput.value = name;
  pickParam(name);
}

function failed(status, detail) {
  setGraph(null);
  setDrawn(null);
  view.hidden = true;
  view.replaceChildren();
  inspect();
  for (const el of tools) el.disabled = true;
  stepLine.textContent = "";
  delete stepLine.dataset.step;
  say(status === 409 ? "Train a step to see its graph." : detail || `Error ${status}.`, status);
  offerNewest();
}

function say(text, status = null) {
  msg.textContent = text;
  if (status === null) delete msg.dataset.status;
  else msg.dataset.status = String(status);
}

// Live, with a graph older than the newest step (or none): offer the newest, never fetch it
// unasked: a page that follows training would otherwise build a graph every step.
function offerNewest() {
  const behind = newest !== null && (g === null ? msg.dataset.status === "409" : newest > g.step);
  const live = viewStep() === null && (g === null || g.asked === null);
  const offer = details.open && live && behind && newest > 0;
  newestBtn.hidden = !offer;
  if (offer) newestBtn.textContent = `Show the newest step (${count(newest)})`;
}

// Opened, or the view changed while open: fetch what the page shows unless it is on screen
// (or on its way). Live, a graph of an older step is replaced on opening, not while open.
function sync(want = viewStep()) {
  if (!details.open) return;
  const onScreen =
    want === null
      ? g !== null && g.asked === null && !(newest > g.step)
      : g !== null && g.step === want;
  const coming = loading !== null && loadingFor === want;
  if (!coming && (!onScreen || loading)) load(want);
  offerNewest();
}

// Selecting: a group, a node, a parameter.

function toggle(gi) {
  if (expanded.has(gi)) expanded.delete(gi);
  else expanded.add(gi);
  render();
}

function select(id, { reveal = false } = {}) {
  setSelection(id, id === null ? null : pathsFrom(id));
  if (reveal && id !== null) {
    const gi = g.group[id];
    if (!expanded.has(gi) && g.groups[gi].kind !== "param") expanded.add(gi);
    render();
    els.nodes.get(id)?.focus({ preventScroll: false });
  } else {
    render(); // a large group shows the selected node too
  }
  inspect();
}

function pickParam(text) {
  if (!g) return;
  const name = text.trim().replace(/\s+/g, "");
  let id = g.params.get(name);
  if (id === undefined && name) {
    const hits = [...g.params.keys()].filter((k) => k.endsWith(name));
    if (hits.length === 1) id = g.params.get(hits[0]);
  }
  if (id === undefined) {
    paramMsg.textContent = name
      ? `${name} is not in step ${g.step}’s graph: the step used ${count(g.params.size)} parameters ` +
        "(a row of wte or wpe for a character or position the name lacks is not used: its gradient is 0)."
      : "";
    return;
  }
  paramMsg.textContent = "";
  paramInput.value = g.label[id];
  select(id);
  // its matrix's box in sight (the chain rule docks at the window's bottom meanwhile)
  els?.boxes.get(g.group[id])?.scrollIntoView({ block: "center" });
}

export function startGraphCard() {
  if (!findElements()) return;
  details.addEventListener("toggle", () => {
    if (details.open) {
      sync();
      if (!loading) applyPending();
    } else {
      stopPlay();
    }
    offerNewest();
  });
  newestBtn.addEventListener("click", () => load(null));
  viewChange.on(({ step }) => {
    const want = step === undefined ? viewStep() : step === null ? null : Number(step);
    clearTimeout(settle);
    settle = setTimeout(() => sync(want), SETTLE_MS);
  });
  point.on(({ step }) => {
    if (newest === null || step > newest) {
      newest = step;
      if (details.open) offerNewest();
    }
  });
  chartTrim.on(({ step }) => {
    newest = step;
    if (details.open && viewStep() === null && g && g.step > newest) load(null);
  });
  // A cell chosen in the Parameters panel: the same parameter here (kept for the next graph
  // while none is on screen; nothing is fetched for it).
  paramSelected.on(({ name, row, col }) => {
    const label = `${name}[${row}][${col}]`;
    paramInput.value = label;
    if (g && details.open) pickParam(label);
    else pendingParam = label;
  });
  startPointing();
  document.getElementById("graph-play").addEventListener("click", play);
  document.getElementById("graph-skip").addEventListener("click", skip);
  stopBtn.addEventListener("click", stop);
  document.getElementById("graph-param-form").addEventListener("submit", (evt) => {
    evt.preventDefault();
    pickParam(paramInput.value);
  });
  redrawOnResize();
  if (details.open) sync();
}

// Pressing and pointing in the drawing and the chain rule.
function startPointing() {
  view.addEventListener("click", (evt) => {
    const lane = evt.target.closest("[data-lane]");
    if (lane) {
      pickLane(Number(lane.dataset.lane));
      return render();
    }
    const node = evt.target.closest("[data-node]");
    if (node) return select(Number(node.dataset.node));
    const box = evt.target.closest("[data-group]");
    if (box) toggle(Number(box.dataset.group));
  });
  // SVG boxes are role=button: Enter and Space press them, as a button's would
  view.addEventListener("keydown", (evt) => {
    if (evt.key !== "Enter" && evt.key !== " ") return;
    const target = evt.target.closest?.("svg [data-node], svg [data-group]");
    if (!target) return;
    evt.preventDefault();
    target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  });
  // a parameter matrix's lines show while it is pointed at or focused (one at a time)
  const hot = (target) => {
    const box = target?.closest?.(".gbox.k-param");
    const gi = box ? Number(box.dataset.group) : null;
    for (const l of els?.links || []) l.el.classList.toggle("hot", l.from === gi);
  };
  view.addEventListener("pointerover", (evt) => hot(evt.target));
  view.addEventListener("pointerleave", () => hot(document.activeElement));
  view.addEventListener("focusin", (evt) => hot(evt.target));
  view.addEventListener("focusout", () => hot(null));

  inspectBody.addEventListener("click", (evt) => {
    const b = evt.target.closest("[data-goto]");
    if (b) select(Number(b.dataset.goto), { reveal: true });
  });
  document.getElementById("graph-inspect-close").addEventListener("click", () => {
    const back = selected;
    select(null);
    if (back !== null) els?.nodes.get(back)?.focus();
  });
}
