// The Parameters panel: every matrix of the model as a heatmap (one cell per parameter)
// through a lens (value, gradient, update, Adam's m and √v), a parameter followed up close with
// its gradient check, per-matrix health lines, and the recipe's map of every parameter.
//
// A frame is fetched when the stream's throttled `params` event says a new one is ready; at
// most one fetch is in flight, so the page never receives frames faster than it draws them.
// While the page views a past step (view.js, `view-change` events), the frame is that step's
// (?step=k), fetched once per change, and `params` events are ignored.

import { paramsReady, recipePhase, viewChange } from "../events.js";
import { wantedStep } from "../view.js";
import { refreshCell, rovingCells, startCells } from "./cells.js";
import { onSchemeChange } from "./colour.js";
import { follow, followCell, pickerShapes, startFocus, unfollow } from "./focus.js";
import { loadFrame, loadVocab, panel } from "./frame.js";
import { startHealth } from "./health.js";
import { build, draw } from "./heatmap.js";
import { drawMap } from "./map.js";

let inFlight = false;
let again = false;

async function fetchFrame() {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  try {
    const next = await loadFrame(wantedStep());
    if (!next) return;
    if (next.header.model !== panel.model) await newModel(next);
    panel.frame = next;
    draw();
    refreshCell();
    drawMap();
    if (!next.past) follow(); // the parameter followed up close follows training only
  } catch (e) {
    // offline: the stream's next event asks again
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      fetchFrame();
    }
  }
}

async function newModel(next) {
  panel.model = next.header.model;
  panel.vocab = await loadVocab();
  unfollow();
  build(next.header.matrices, followCell);
  panel.frame = next;
  rovingCells();
  pickerShapes(next.header.matrices);
}

export function startParamsPanel() {
  if (!document.getElementById("params-grid")) return;
  paramsReady.on(() => {
    if (wantedStep() === null) fetchFrame();
  });
  // the step on view changed, or its recipe was rendered anew (a blank map: draw it again)
  viewChange.on(() => {
    const { frame } = panel;
    if (frame?.past && frame.header.step === wantedStep()) drawMap();
    else fetchFrame();
  });
  recipePhase.on(drawMap);
  onSchemeChange(() => {
    draw();
    drawMap();
  });
  startHealth();
  document.addEventListener("change", (evt) => {
    if (evt.target.name === "lens") {
      panel.lens = evt.target.value;
      draw();
    } else if (evt.target.id === "per-matrix") {
      panel.perMatrix = evt.target.checked;
      draw();
    }
  });
  startFocus();
  startCells(followCell);
  window.addEventListener("load", fetchFrame);
  if (document.readyState === "complete") fetchFrame();
}
