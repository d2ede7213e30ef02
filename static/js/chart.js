// The loss chart (uPlot): each step's loss (the stream's `point` events, seeded from GET
// /api/history), its running average, the held-out loss (`val-point`), the uniform guess's
// ln V, and on a forked run its parent's curve up to the fork; with a text description for
// screen readers. A click asks timeline.js for that step; the step on view is marked, and so
// is each milestone of the run (lesson.js sets them): a click near one goes to its step.

import { API, PARENT_API, PARENT_STEP, getJSON } from "./api.js";
import {
  chartTrim,
  onStreamConnected,
  point,
  valPoint,
  viewChange,
  viewRequest,
} from "./events.js";
import { fixed } from "./format.js";
import { askForStep, cssVar, markStep, onWidthChange, remark } from "./plot.js";
import { redrawer } from "./redraw.js";
import { wantedStep } from "./view.js";

const points = new Map(); // step -> [loss, smooth]
const val = new Map(); // step -> loss on the held-out documents (every few steps)
const parentPoints = new Map(); // a forked run's parent: step -> smooth, steps 1..PARENT_STEP
let chartBox = null;
let chartDesc = null;
let plot = null;
let dirty = false;
let askRedraw = () => requestAnimationFrame(redraw); // paced once the chart's box is known
let model = null; // the model generation the points belong to
let plotVocab = null; // the vocabulary size the plot's uniform-guess line was made for
let viewStep = null; // the past step the page shows (null: live), marked on the chart
let marks = []; // the run's milestones, [{step, kind}] (lesson.js)
const MARK_COLOURS = {
  below_uniform: "--accent",
  top_guess: "--muted",
  best_held_out: "--val",
  memorising: "--warn",
};
const NEAR = 8; // px: a click this close to a mark goes to its step

// The vocabulary size of the current model, from the server-rendered facts chips (re-rendered
// when the model changes): a uniform guess over V tokens scores ln V.
function vocabSize() {
  const v = Number(document.getElementById("model-facts")?.dataset.vocabSize);
  return v > 1 ? v : 27;
}

function chartData() {
  const all = new Set([...parentPoints.keys(), ...points.keys(), ...val.keys()]);
  const steps = [...all].sort((a, b) => a - b);
  const loss = steps.map((s) => points.get(s)?.[0] ?? null);
  const smooth = steps.map((s) => points.get(s)?.[1] ?? null);
  const held = steps.map((s) => val.get(s) ?? null);
  const uniform = Math.log(plotVocab ?? vocabSize());
  const ref = steps.map(() => uniform);
  if (!PARENT_API) return [steps, loss, smooth, held, ref];
  return [steps, loss, smooth, held, ref, steps.map((s) => parentPoints.get(s) ?? null)];
}

async function loadParent() {
  if (!PARENT_API) return;
  try {
    const hist = await getJSON(`${PARENT_API}/history`);
    if (!hist) return;
    for (const p of hist.points) {
      if (p.step <= PARENT_STEP) parentPoints.set(p.step, p.smooth);
    }
    if (chartBox) chartBox.dataset.parentPoints = String(parentPoints.size);
    dirty = true;
    redraw();
  } catch (e) {
    // offline: the chart shows this run's own curve
  }
}

// Tick labels: one decimal, or two when a tick needs them (0.25 must not read "0.3").
function decimals(vals) {
  return vals.some((v) => v != null && Math.abs(v * 10 - Math.round(v * 10)) > 1e-6) ? 2 : 1;
}

const height = (width) => (width < 500 ? 220 : 280);

function lossSeries() {
  const uniform = Math.log(plotVocab);
  const ink = cssVar("--muted");
  const accent = cssVar("--accent");
  const held = cssVar("--val");
  const value = (u, v) => fixed(v, 3);
  const series = [
    { label: "step", value: (u, v) => (v == null ? "–" : String(v)) },
    { label: "loss", stroke: cssVar("--faint"), width: 1, alpha: 0.4, points: { show: false }, value },
    { label: "smoothed", stroke: accent, width: 2.5, points: { show: false }, value },
    {
      // measured every few steps: a line through the points, across the steps between
      label: "held-out",
      stroke: held,
      width: 2,
      spanGaps: true,
      points: { show: true, size: 5, fill: held },
      value,
    },
    {
      label: `uniform guess (ln ${plotVocab})`,
      stroke: ink,
      width: 1,
      dash: [6, 5],
      points: { show: false },
      value: () => uniform.toFixed(2),
    },
  ];
  if (PARENT_API) {
    series.push({
      label: `before the fork (step ${PARENT_STEP})`,
      stroke: accent,
      alpha: 0.35,
      width: 2,
      points: { show: false },
      value,
    });
  }
  return series;
}

function makePlot() {
  if (!chartBox || typeof uPlot === "undefined") return;
  if (plot) plot.destroy();
  plotVocab = vocabSize();
  const line = cssVar("--line");
  const axis = {
    stroke: cssVar("--muted"),
    grid: { stroke: line, width: 1 },
    ticks: { stroke: line, width: 1 },
    font: "12px system-ui, sans-serif",
  };
  const width = Math.max(280, chartBox.clientWidth);
  plot = new uPlot(
    {
      width,
      height: height(width),
      cursor: { points: { size: 7 }, drag: { x: false, y: false } },
      scales: { x: { time: false, range: (u, min, max) => historyRange(min, max) } },
      legend: { live: true },
      hooks: {
        setCursor: [showLatestInLegend],
        draw: [drawMarks, (u) => markStep(u, viewStep), alignTimeline],
      },
      axes: [
        { ...axis, label: "step", labelSize: 18, labelFont: "12px system-ui, sans-serif" },
        { ...axis, size: 44, values: (u, vals) => vals.map((v) => v.toFixed(decimals(vals))) },
      ],
      series: lossSeries(),
    },
    chartData(),
    chartBox,
  );
  const made = plot;
  plot.over.addEventListener("click", (evt) => {
    const near = markNear(made, evt);
    if (near) viewRequest.send({ step: near.step });
    else askForStep(made, evt);
  });
  // the canvas is a picture: name it, and point to the text that says what it shows
  const canvas = plot.root.querySelector("canvas");
  if (canvas) {
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Loss per training step");
    canvas.setAttribute("aria-describedby", "loss-desc");
  }
  showCount();
}

// The milestones: a line across the plot for each (a short tick at the top for the changes of
// the "e" guess, which can be many), in the colour of its kind.
function drawMarks(u) {
  if (!marks.length || !u.data[0].length) return;
  const { top, height, left, width } = u.bbox;
  const ctx = u.ctx;
  const px = devicePixelRatio;
  ctx.save();
  for (const m of marks) {
    const x = u.valToPos(m.step, "x", true);
    if (x < left - 1 || x > left + width + 1) continue;
    ctx.strokeStyle = ctx.fillStyle = cssVar(MARK_COLOURS[m.kind] || "--muted");
    ctx.lineWidth = 1.5 * px;
    ctx.beginPath();
    if (m.kind === "top_guess") {
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + 8 * px);
      ctx.stroke();
      continue;
    }
    ctx.setLineDash([2 * px, 3 * px]);
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath(); // a small triangle at the top, pointing down at the step
    ctx.moveTo(x - 5 * px, top);
    ctx.lineTo(x + 5 * px, top);
    ctx.lineTo(x, top + 8 * px);
    ctx.fill();
  }
  ctx.restore();
}

function markNear(u, evt) {
  const x = evt.clientX - u.over.getBoundingClientRect().left;
  let best = null;
  for (const m of marks) {
    const d = Math.abs(u.valToPos(m.step, "x") - x);
    if (d <= NEAR && (!best || d < best.d)) best = { step: m.step, d };
  }
  return best;
}

// The run's milestones, [{step, kind}], marked on the chart (from lesson.js).
export function setMarks(list) {
  marks = list;
  if (chartBox) chartBox.dataset.marks = String(marks.length);
  remark(plot);
}

// Off the chart, the legend shows the latest step rather than dashes.
function showLatestInLegend(u) {
  const n = u.data[0].length;
  if (u.cursor.idx == null && n > 0) u.setLegend({ idx: n - 1 });
}

// The x axis spans the model's viewable history, as the timeline under the chart does: from
// its first step (the timeline's min; the first loss is step 1's) to the newest.
function historyRange(min, max) {
  if (min == null || max == null) return [min, max];
  const lo = Number(document.getElementById("timeline")?.min);
  const first = Number.isFinite(lo) ? Math.min(lo, min) : min;
  return first === max ? [first, first + 1] : [first, max];
}

// The timeline lines up with the plot area (css/time-travel.css: --plot-left, --plot-width),
// so that its thumb sits under the step it shows, like the mark drawn on the chart.
function alignTimeline(u) {
  const box = document.querySelector(".timeline");
  if (!box) return;
  for (const [name, px] of [
    ["--plot-left", u.bbox.left],
    ["--plot-width", u.bbox.width],
  ]) {
    const value = `${Math.round(px / devicePixelRatio)}px`; // bbox: in canvas pixels
    if (box.style.getPropertyValue(name) !== value) box.style.setProperty(name, value);
  }
}

function redraw() {
  if (!dirty) return;
  dirty = false;
  if (!plot || plotVocab !== vocabSize()) makePlot();
  else {
    plot.setData(chartData());
    showLatestInLegend(plot);
  }
  showCount();
}

function showCount() {
  if (!chartBox) return;
  chartBox.dataset.points = String(points.size); // for tests and curious readers
  chartBox.dataset.valPoints = String(val.size);
  const empty = document.getElementById("loss-empty");
  if (empty) empty.hidden = points.size > 0 || parentPoints.size > 0;
  describe();
}

// What the chart shows, in words (the canvas's description; not a live region).
function describe() {
  if (!chartDesc) return;
  const v = plotVocab ?? vocabSize();
  let uniform = `a uniform guess over ${v} tokens scores ${Math.log(v).toFixed(2)}`;
  if (parentPoints.size) {
    uniform += `; the lighter line is the run it was forked from, up to step ${PARENT_STEP}`;
  }
  if (points.size === 0) {
    chartDesc.textContent = `No training steps yet; ${uniform}.`;
    return;
  }
  let first = Infinity;
  let last = -Infinity;
  for (const s of points.keys()) {
    if (s < first) first = s;
    if (s > last) last = s;
  }
  const [loss, smooth] = points.get(last);
  let held = "";
  if (val.size) {
    const at = Math.max(...val.keys());
    held =
      `; on documents it never trains on (held out), the loss at step ${at} is ` +
      `${fixed(val.get(at), 3)}`;
  }
  chartDesc.textContent =
    `Loss over steps ${first} to ${last}: at step ${last} the loss is ${fixed(loss, 3)}, ` +
    `smoothed ${fixed(smooth, 3)}, started at ${fixed(points.get(first)[1], 3)}${held}; ` +
    `${uniform}.`;
}

function schedule() {
  dirty = true;
  askRedraw();
}

function addPoint(p) {
  if (model != null && p.model != null && p.model !== model) {
    points.clear();
    val.clear();
  }
  if (p.model != null) model = p.model;
  points.set(p.step, [p.loss, p.smooth]);
  schedule();
}

async function loadHistory() {
  try {
    const hist = await getJSON(`${API}/history`);
    if (!hist) return;
    if (model != null && hist.model !== model) {
      points.clear();
      val.clear();
    }
    model = hist.model;
    for (const p of hist.points) points.set(p.step, [p.loss, p.smooth]);
    for (const p of hist.val ?? []) val.set(p.step, p.loss);
    dirty = true;
    redraw();
  } catch (e) {
    // offline: the stream's reconnect will call us again
  }
}

export function startLossChart() {
  chartBox = document.getElementById("loss-chart");
  chartDesc = document.getElementById("loss-desc");
  askRedraw = redrawer(chartBox, redraw, { hidden: showCount });
  viewStep = wantedStep();
  point.on(addPoint);
  valPoint.on((p) => {
    if (model != null && p.model !== model) return; // a replaced model's: history reloads
    val.set(p.step, p.val);
    schedule();
  });
  chartTrim.on(({ step }) => {
    for (const s of [...points.keys()]) if (s > step) points.delete(s);
    for (const s of [...val.keys()]) if (s > step) val.delete(s);
    schedule();
  });
  viewChange.on(({ step }) => {
    viewStep = step ?? null;
    remark(plot);
  });
  onStreamConnected(() => {
    loadHistory(); // (re)connected: the chart catches up with anything missed
    if (parentPoints.size === 0) loadParent(); // a parent's past does not change
  });
  if (chartBox) {
    onWidthChange(chartBox, (w) => {
      if (!plot) return false;
      plot.setSize({ width: Math.max(280, w), height: height(w) });
      return true;
    });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", makePlot);
  }
  makePlot();
}
