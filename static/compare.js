// Runs compared: each run's smoothed loss on one uPlot chart, from GET /api/compare (the
// page's #compare-chart names the query); re-read every 2 s while one of them trains. Each
// curve takes the colour of its row's swatch, so the table is the legend.
(() => {
  "use strict";
  const box = document.getElementById("compare-chart");
  if (!box || typeof uPlot === "undefined") return;
  let plot = null;

  function colours() {
    return [...document.querySelectorAll("#compare-table .swatch")].map(
      (s) => getComputedStyle(s).backgroundColor,
    );
  }

  // one x axis: every step any run has; a run without that step has a gap there
  function chartData(runs) {
    const steps = [...new Set(runs.flatMap((r) => r.steps))].sort((a, b) => a - b);
    const at = new Map(steps.map((s, i) => [s, i]));
    const ys = runs.map((r) => {
      const y = new Array(steps.length).fill(null);
      r.steps.forEach((s, i) => (y[at.get(s)] = r.smooth[i]));
      return y;
    });
    return [steps, ...ys];
  }

  function make(runs) {
    const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    const axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 } };
    const colour = colours();
    plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth),
        height: 320,
        scales: { x: { time: false } },
        axes: [{ ...axis, label: "step" }, { ...axis, size: 44 }],
        series: [
          { label: "step" },
          ...runs.map((r, i) => ({
            label: r.name,
            stroke: colour[i],
            width: 2,
            spanGaps: true,
            points: { show: false },
            value: (u, v) => (v == null ? "–" : v.toFixed(3)),
          })),
        ],
      },
      chartData(runs),
      box,
    );
  }

  async function load() {
    let again = false;
    try {
      const resp = await fetch(box.dataset.src, { headers: { Accept: "application/json" } });
      if (resp.ok) {
        const { runs } = await resp.json();
        if (plot) plot.setData(chartData(runs));
        else make(runs);
        box.dataset.curves = String(runs.filter((r) => r.steps.length).length);
        again = runs.some((r) => r.status === "training" || r.status === "queued");
      }
    } catch (e) {
      again = true; // offline for a moment: try again
    }
    if (again) setTimeout(load, 2000);
  }

  load();
})();
