// The class chart (templates/partials/class_chart.html): every student's smoothed loss on one
// uPlot chart, from GET /api/classes/{code}/curves every 2 s. Coloured by the student's value
// of the varied setting (a legend of the values), or by student when nothing varies; the
// spotlighted run drawn last, on top, thicker; the line under the pointer is named below the
// chart; the ranking by held-out loss and each value's mean beside it.

import { getJSON } from "./api.js";
import { cssVar, oneAxis } from "./plot.js";

// distinct hues, far apart however many there are (the golden angle)
const hue = (i) => `hsl(${(i * 137.508) % 360} 65% 45%)`;
const shown = (v) => (typeof v === "number" ? String(+v.toPrecision(6)) : String(v));

// the spotlighted run last: uPlot draws series in order, so it ends on top
function ordered(curves, spotlight) {
  return [...curves].sort((a, b) => (a.run === spotlight) - (b.run === spotlight));
}

function colourOf(body) {
  const values = body.vary ? body.vary.values.map(shown) : null;
  return (c, i) => (values ? hue(values.indexOf(shown(c.value))) : hue(i));
}

function chartData(curves) {
  const { steps, line } = oneAxis(curves.map((c) => c.steps));
  return [steps, ...curves.map((c) => line(c.steps, c.smooth))];
}

function item(tag, text, colour) {
  const el = document.createElement(tag);
  if (colour) {
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    el.append(swatch);
  }
  el.append(text);
  return el;
}

function showResults(body) {
  const legend = document.getElementById("class-legend");
  const ranking = document.getElementById("class-ranking");
  const groups = document.getElementById("class-groups");
  const label = body.vary ? body.vary.label : null;
  if (legend) {
    const colour = colourOf(body);
    legend.replaceChildren(
      ...(body.vary
        ? body.vary.values.map((v, i) => item("li", `${label} ${shown(v)}`, hue(i)))
        : body.curves.map((c, i) => item("li", c.name, colour(c, i)))),
    );
    legend.dataset.values = body.vary ? String(body.vary.values.length) : "0";
  }
  if (ranking) {
    ranking.replaceChildren(
      ...body.ranking.map((r) =>
        item(
          "li",
          `${r.name}: ${r.val.toFixed(3)}` + (label ? ` (${label} ${shown(r.value)})` : ""),
        ),
      ),
    );
    if (!body.ranking.length) ranking.append(item("li", "no held-out loss yet: train first"));
  }
  if (groups) {
    groups.replaceChildren(
      ...body.groups.map((g, i) => {
        const row = document.createElement("tr");
        row.append(
          item("th", `${label} ${shown(g.value)}`, hue(i)),
          item("td", g.mean == null ? "–" : g.mean.toFixed(3)),
          item("td", `${g.measured} of ${g.n} student${g.n === 1 ? "" : "s"}`),
        );
        return row;
      }),
    );
  }
}

export function startClassChart() {
  const box = document.getElementById("class-chart");
  const hover = document.getElementById("class-hover");
  if (!box || typeof uPlot === "undefined") return;
  let plot = null;
  let shape = ""; // the students the plot was made for (a join or removal makes it anew)
  // at most 55% of the window: the legend and the ranking stay in sight (the projector)
  const height = () =>
    Math.max(240, Math.min(Math.round(box.clientWidth * 0.45), Math.round(innerHeight * 0.55)));

  function make(curves, body) {
    // the axes' text follows the root font size (the projector's scales with the screen)
    const root = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    const px = Math.round(root * 0.8);
    const font = `${px}px system-ui, sans-serif`;
    const axis = {
      stroke: cssVar("--muted"),
      grid: { stroke: cssVar("--line"), width: 1 },
      font,
      labelFont: `600 ${font}`,
      size: px * 3 + 10,
      labelSize: px + 12,
    };
    const colour = colourOf(body);
    if (plot) plot.destroy();
    plot = new uPlot(
      {
        width: Math.max(260, box.clientWidth),
        height: height(),
        scales: { x: { time: false } },
        axes: [
          { ...axis, label: "step" },
          { ...axis, size: px * 4 + 8 },
        ],
        legend: { show: false }, // 300 names do not fit: the hovered one is named below
        cursor: { focus: { prox: 24 }, drag: { x: false, y: false } },
        focus: { alpha: 0.25 },
        series: [
          {},
          ...curves.map((c, i) => ({
            label: c.name,
            stroke: colour(c, i),
            width: c.run === body.spotlight ? 4.5 : 1.75,
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
              const value = c && body.vary ? `, ${body.vary.label} ${shown(c.value)}` : "";
              hover.textContent = c
                ? `${c.name} (run ${c.run}${value})` + (loss != null ? `: ${loss.toFixed(3)}` : "")
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
        const curves = ordered(body.curves, body.spotlight);
        const now = JSON.stringify([
          curves.map((c) => [c.member, c.run, c.value]),
          body.spotlight,
          body.vary,
          box.clientWidth,
        ]);
        if (!plot || now !== shape) make(curves, body);
        else plot.setData(chartData(curves));
        shape = now;
        showResults(body);
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
