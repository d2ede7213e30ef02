// The lesson's live parts: the "what happened" list (server-rendered, GET /ui/milestones) and
// the same milestones as marks on the loss chart, fetched again as the run goes on (on each
// held-out point: every 50 steps and at a segment's end; on a rewind; at least every 50
// steps); a press on one goes to its step. And the Train card's epoch line, which follows the
// step.

import { setMarks } from "./chart.js";
import { chartTrim, onStreamConnected, point, valPoint, viewRequest } from "./events.js";
import { thousands } from "./format.js";
import { redrawer } from "./redraw.js";

const UI = document.body.dataset.ui || "/ui";
const EVERY = 50; // steps between refreshes when no held-out point comes

let box = null;
let inFlight = false;
let again = false;
let asked = -Infinity; // the newest step when the list was last asked for
let newest = 0;

async function refresh() {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  asked = newest;
  try {
    const resp = await fetch(`${UI}/milestones`);
    if (resp.ok) {
      box.innerHTML = await resp.text();
      showMarks();
    }
  } catch (e) {
    // offline: the stream's reconnect asks again
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

function showMarks() {
  const list = box.querySelector("[data-marks]");
  const marks = list ? JSON.parse(list.dataset.marks) : [];
  setMarks(marks.map(([step, kind]) => ({ step, kind })));
}

// "501 steps · 1.7% of one epoch over 28,829 names"
export function epochShare(steps, nTrain) {
  if (nTrain <= 0) return "–";
  const x = steps / nTrain;
  if (x >= 1) return Math.round(x * 10) === 10 ? "1 epoch" : `${x.toFixed(1)} epochs`;
  const pct = 100 * x;
  return pct < 1 ? `${Number(pct.toPrecision(2))}%` : `${pct.toFixed(1)}%`;
}

function startEpochLine() {
  const line = document.querySelector("[data-testid=epoch]");
  const text = line?.querySelector("[data-epoch-text]");
  if (!text) return;
  const nTrain = Number(line.dataset.nTrain);
  const docs = line.dataset.docs;
  let step = null;
  const show = () => {
    const steps = `${thousands(step)} step${step === 1 ? "" : "s"}`;
    text.textContent = `${steps} · ${epochShare(step, nTrain)} of one epoch over ${thousands(nTrain)} ${docs}`;
  };
  const ask = redrawer(line, show, { hidden: show });
  const set = (s) => {
    step = s;
    ask();
  };
  point.on((p) => set(p.step));
  chartTrim.on((p) => set(p.step));
}

export function startLesson() {
  startEpochLine();
  box = document.getElementById("milestones");
  if (!box) return;
  showMarks();
  box.addEventListener("click", (evt) => {
    const b = evt.target.closest("button.milestone");
    if (b) viewRequest.send({ step: Number(b.dataset.step) });
  });
  onStreamConnected(refresh);
  valPoint.on(refresh);
  chartTrim.on(refresh);
  point.on(({ step }) => {
    newest = step;
    if (step - asked >= EVERY) refresh();
  });
}
