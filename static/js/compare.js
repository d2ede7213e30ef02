// Runs compared (templates/compare.html): each run's smoothed training loss (solid) and
// held-out loss (dashed, every few steps) on one uPlot chart, from GET /api/compare (the page's
// #compare-chart names the query); read again every 2 s while one of them trains. Both curves
// of a run take the colour of its row's swatch, so the table is the legend.

import { getJSON } from "./api.js";
import { cssVar, oneAxis } from "./plot.js";

function colours() {
  return [...document.querySelectorAll("#compare-table .swatch")].map(
    (s) => getComputedStyle(s).backgroundColor,
  );
}

// one x axis: every step any run has; a run without that step has a gap there
function chartData(runs) {
  const { steps, line } = oneAxis(runs.flatMap((r) => [r.steps, r.val_steps]));
  return [steps, ...runs.flatMap((r) => [line(r.steps, r.smooth), line(r.val_steps, r.val)])];
}

function series(runs) {
  const colour = colours();
  const value = (u, v) => (v == null ? "–" : v.toFixed(3));
  return runs.flatMap((r, i) => [
    { label: r.name, stroke: colour[i], width: 2, spanGaps: true, points: { show: false }, value },
    {
      label: `${r.name} held-out`,
      stroke: colour[i],
      width: 2,
      dash: [6, 4],
      spanGaps: true,
      points: { show: true, size: 4, fill: colour[i] },
      value,
    },
  ]);
}

export function startCompareChart() {
  const box = document.getElementById("compare-chart");
  if (!box || typeof uPlot === "undefined") return;
  let plot = null;

  function make(runs) {
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line"), width: 1 } };
    plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth),
        height: 320,
        scales: { x: { time: false } },
        axes: [{ ...axis, label: "step" }, { ...axis, size: 44 }],
        series: [{ label: "step" }, ...series(runs)],
      },
      chartData(runs),
      box,
    );
  }

  async function load() {
    let again = false;
    try {
      const body = await getJSON(box.dataset.src);
      if (body) {
        const { runs } = body;
        if (plot) plot.setData(chartData(runs));
        else make(runs);
        box.dataset.curves = String(runs.filter((r) => r.steps.length).length);
        box.dataset.valCurves = String(runs.filter((r) => r.val.length).length);
        again = runs.some((r) => r.status === "training" || r.status === "queued");
      }
    } catch (e) {
      again = true; // offline for a moment: try again
    }
    if (again) setTimeout(load, 2000);
  }

  load();
}
