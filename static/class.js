// The class pages' JavaScript, where hypermedia cannot do it: the teacher's overlay of every
// student's smoothed loss (one uPlot chart, from GET /api/classes/{code}/curves every 2 s; the
// line under the pointer is named below the chart), and, on the projector, following the
// teacher's spotlight (GET /api/classes/{code}/spotlight every 3 s: a new run, a new page).
(() => {
  "use strict";

  // ---------- the teacher's overlay ----------

  const box = document.getElementById("class-chart");
  const hover = document.getElementById("class-hover");
  let plot = null;
  let shape = ""; // the students the plot was made for (a join or removal makes it anew)

  // distinct hues, far apart however many students there are (the golden angle)
  const colour = (i) => `hsl(${(i * 137.508) % 360} 65% 45%)`;

  function chartData(curves) {
    const steps = [...new Set(curves.flatMap((c) => c.steps))].sort((a, b) => a - b);
    const at = new Map(steps.map((s, i) => [s, i]));
    const ys = curves.map((c) => {
      const y = new Array(steps.length).fill(null);
      c.steps.forEach((s, i) => (y[at.get(s)] = c.smooth[i]));
      return y;
    });
    return [steps, ...ys];
  }

  function make(curves, spotlight) {
    const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    const axis = { stroke: css("--muted"), grid: { stroke: css("--line"), width: 1 } };
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
      const resp = await fetch(box.dataset.src, { headers: { Accept: "application/json" } });
      if (resp.ok) {
        const { curves, spotlight } = await resp.json();
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

  if (box && typeof uPlot !== "undefined") load();

  // ---------- the projector follows the spotlight ----------

  const follow = document.querySelector("[data-follow]");
  if (follow) {
    const code = follow.dataset.follow;
    const shown = follow.dataset.spotlight || "";
    const check = async () => {
      try {
        const resp = await fetch(`/api/classes/${encodeURIComponent(code)}/spotlight`);
        if (resp.ok) {
          const { run } = await resp.json();
          if (String(run ?? "") !== shown) {
            window.location.assign(`/class/${encodeURIComponent(code)}/projector`);
            return;
          }
        }
      } catch (e) {
        // offline for a moment
      }
      setTimeout(check, 3000);
    };
    setTimeout(check, 3000);
  }
})();
