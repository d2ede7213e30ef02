// The teacher's overlay (templates/class_teacher.html): every student's smoothed loss on one
// uPlot chart, from GET /api/classes/{code}/curves every 2 s; the line under the pointer is
// named below the chart.

import { getJSON } from "./api.js";
import { cssVar, oneAxis } from "./plot.js";

// distinct hues, far apart however many students there are (the golden angle)
const colour = (i) => `hsl(${(i * 137.508) % 360} 65% 45%)`;

function chartData(curves) {
  const { steps, line } = oneAxis(curves.map((c) => c.steps));
  return [steps, ...curves.map((c) => line(c.steps, c.smooth))];
}

export function startClassChart() {
  const box = document.getElementById("class-chart");
  const hover = document.getElementById("class-hover");
  if (!box || typeof uPlot === "undefined") return;
  let plot = null;
  let shape = ""; // the students the plot was made for (a join or removal makes it anew)

  function make(curves, spotlight) {
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line"), width: 1 } };
    if (plot) plot.destroy();
    plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth),
        height: 320,
        scales: { x: { time: false } },
        axes: [{ ...axis, label: "step" }, { ...axis, size: 44 }],
        legend: { show: false }, // 300 names do not fit: the hovered one is named below
        cursor: { focus: { prox: 24 }, drag: { x: false, y: false } },
        focus: { alpha: 0.25 },
        series: [
          {},
          ...curves.map((c, i) => ({
            label: c.name,
            stroke: colour(i),
            width: c.run === spotlight ? 4 : 1.75,
            spanGaps: true,
            points: { show: false },
          })),
        ],
        hooks: {
          setSeries: [
            (u, idx) => {
              if (!hover) return;
              const c = idx ? curves[idx - 1] : null;
              const i = u.cursor.idx;
              const loss = c && i != null ? u.data[idx][i] : null;
              hover.textContent = c
                ? `${c.name} (run ${c.run})` + (loss != null ? `: ${loss.toFixed(3)}` : "")
                : "";
            },
          ],
        },
      },
      chartData(curves),
      box,
    );
  }

  async function load() {
    try {
      const body = await getJSON(box.dataset.src);
      if (body) {
        const { curves, spotlight } = body;
        const now = JSON.stringify([curves.map((c) => [c.member, c.run]), spotlight]);
        if (!plot || now !== shape) make(curves, spotlight);
        else plot.setData(chartData(curves));
        shape = now;
        box.dataset.curves = String(curves.filter((c) => c.steps.length).length);
        box.dataset.students = String(curves.length);
      }
    } catch (e) {
      // offline for a moment: the next round tries again
    }
    setTimeout(load, 2000);
  }

  load();
}
