// What the uPlot charts share (uPlot itself is the classic script static/vendor/uPlot…iife.js,
// loaded before the modules run): the theme's colours, resizing with their box, several series
// on one x axis, and, on the charts of the run page, the step on view and a click to go there.

import { viewRequest } from "./events.js";

// A colour of the theme (static/css/base.css), for the canvas.
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// Calls resize(width) when the box's width changes by more than 4 px; resize says whether it
// acted (false: nothing drawn yet, try again on the next change).
export function onWidthChange(box, resize) {
  let last = 0;
  new ResizeObserver(() => {
    const w = box.clientWidth;
    if (Math.abs(w - last) > 4 && resize(w)) last = w;
  }).observe(box);
}

// Every step any series has, in order; line(xs, ys) is one series on those steps (null where
// it has none).
export function oneAxis(stepLists) {
  const steps = [...new Set(stepLists.flat())].sort((a, b) => a - b);
  const at = new Map(steps.map((s, i) => [s, i]));
  const line = (xs, ys) => {
    const y = new Array(steps.length).fill(null);
    xs.forEach((s, i) => (y[at.get(s)] = ys[i]));
    return y;
  };
  return { steps, line };
}

// A click on a chart: see the model as it was at that step (timeline.js goes there).
export function askForStep(u, evt) {
  if (!u.data[0].length) return;
  const step = u.posToVal(evt.clientX - u.over.getBoundingClientRect().left, "x");
  viewRequest.send({ step });
}

// The step on view, as a dashed line across a plot (null: live, no line).
export function markStep(u, step) {
  if (step === null || !u.data[0].length) return;
  const x = u.valToPos(step, "x", true);
  const { top, height, left, width } = u.bbox;
  if (x < left - 1 || x > left + width + 1) return;
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = cssVar("--past");
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
  ctx.beginPath();
  ctx.moveTo(x, top);
  ctx.lineTo(x, top + height);
  ctx.stroke();
  ctx.restore();
}

// Draw a plot again for its mark (uPlot's redraw fails on a plot without data: its axes have
// no range).
export function remark(u) {
  if (u && u.data[0].length) u.redraw(false);
}

// Lines told apart by colour (Okabe–Ito, then grey, black, yellow): the Parameters panel's.
export const LINE_COLOURS = [
  "#0072b2",
  "#d55e00",
  "#009e73",
  "#cc79a7",
  "#e69f00",
  "#56b4e9",
  "#7f7f7f",
  "#000000",
  "#f0e442",
];
