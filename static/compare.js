// Runs compared: each run's smoothed training loss (solid) and held-out loss (dashed, every few
// steps) on one uPlot chart, from GET /api/compare (the page's #compare-chart names the query);
// re-read every 2 s while one of them trains. Both curves of a run take the colour of its
// row's swatch, so the table is the legend.
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
    const all = new Set(runs.flatMap((r) => [...r.steps, ...r.val_steps]));
    const steps = [...all].sort((a, b) => a - b);
    const at = new Map(steps.map((s, i) => [s, i]));
    const line = (xs, ys) => {
      const y = new Array(steps.length).fill(null);
      xs.forEach((s, i) => (y[at.get(s)] = ys[i]));
      return y;
    };
    return [steps, ...runs.flatMap((r) => [line(r.steps, r.smooth), line(r.val_steps, r.val)])];
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
          ...runs.flatMap((r, i) => [
            {
              label: r.name,
              stroke: colour[i],
              width: 2,
              spanGaps: true,
              points: { show: false },
              value: (u, v) => (v == null ? "–" : v.toFixed(3)),
            },
            {
              label: `${r.name} held-out`,
              stroke: colour[i],
              width: 2,
              dash: [6, 4],
              spanGaps: true,
              points: { show: true, size: 4, fill: colour[i] },
              value: (u, v) => (v == null ? "–" : v.toFixed(3)),
            },
          ]),
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
        box.dataset.valCurves = String(runs.filter((r) => r.val.length).length);
        again = runs.some((r) => r.status === "training" || r.status === "queued");
      }
    } catch (e) {
      again = true; // offline for a moment: try again
    }
    if (again) setTimeout(load, 2000);
  }

  load();
})();
