// Per-matrix health lines: the gradient norm and the update-to-value ratio over the run (GET
// /api/params/health for the lines so far, then each step's `point` event). Points that arrive
// while the lines load are kept and added after them.

import { API } from "../api.js";
import { onStreamConnected, point } from "../events.js";
import { sig3 } from "../format.js";
import { LINE_COLOURS, cssVar } from "../plot.js";
import { redrawer } from "../redraw.js";

const health = {
  steps: [],
  grad: new Map(),
  ratio: new Map(),
  plots: {},
  dirty: false,
  rebuild: false,
  loading: null, // points that arrived while the lines loaded
};

async function loadHealth() {
  health.loading = [];
  try {
    const resp = await fetch(`${API}/params/health`);
    if (!resp.ok) throw new Error(String(resp.status));
    const h = await resp.json();
    clearHealth();
    health.steps = h.steps;
    h.names.forEach((name, i) => {
      health.grad.set(name, h.grad_norm[i].map((x) => (x > 0 ? x : null)));
      health.ratio.set(name, h.update_ratio[i].map((x) => (x > 0 ? x : null)));
    });
  } catch (e) {
    // offline: the stream's reconnect loads them again
  }
  const pending = health.loading;
  health.loading = null;
  for (const p of pending) addHealth(p);
  scheduleHealth();
}

let askDraw = () => requestAnimationFrame(drawHealth); // paced once started

function scheduleHealth() {
  health.dirty = true;
  askDraw();
}

function addHealth(p) {
  if (!p.health) return;
  if (health.loading) {
    health.loading.push(p);
    return;
  }
  const last = health.steps[health.steps.length - 1];
  if (health.steps.length && p.step === last) return; // loaded already
  if (health.steps.length && p.step <= last) {
    // the model went back: keep the lines up to that step
    while (health.steps.length && health.steps[health.steps.length - 1] >= p.step) {
      health.steps.pop();
      for (const s of [...health.grad.values(), ...health.ratio.values()]) s.pop();
    }
  }
  health.steps.push(p.step);
  for (const h of p.health) {
    if (!health.grad.has(h.name)) {
      health.grad.set(h.name, Array(health.steps.length - 1).fill(null));
      health.ratio.set(h.name, Array(health.steps.length - 1).fill(null));
      health.rebuild = true;
    }
    health.grad.get(h.name).push(h.grad_norm > 0 ? h.grad_norm : null);
    health.ratio.get(h.name).push(h.update_ratio > 0 ? h.update_ratio : null);
  }
  scheduleHealth();
}

function clearHealth() {
  health.steps = [];
  health.grad.clear();
  health.ratio.clear();
  health.rebuild = true;
  for (const plot of Object.values(health.plots)) plot.destroy();
  health.plots = {};
}

function drawHealth() {
  if (!health.dirty) return;
  health.dirty = false;
  if (typeof uPlot === "undefined") return;
  for (const [key, series] of [
    ["grad", health.grad],
    ["ratio", health.ratio],
  ]) {
    const box = document.getElementById(`health-${key}`);
    if (!box) continue;
    const data = [health.steps, ...series.values()];
    if (health.plots[key] && !health.rebuild) {
      health.plots[key].setData(data);
      continue;
    }
    health.plots[key]?.destroy();
    const axis = { stroke: cssVar("--muted"), font: "11px system-ui, sans-serif" };
    health.plots[key] = new uPlot(
      {
        width: Math.max(260, box.clientWidth || 520),
        height: 170,
        scales: { x: { time: false }, y: { distr: 3 } },
        axes: [{ ...axis }, { ...axis, size: 66, values: (u, vals) => vals.map(sig3) }],
        legend: { live: false },
        series: [
          { label: "step" },
          ...[...series.keys()].map((name, j) => ({
            label: name,
            stroke: LINE_COLOURS[j % LINE_COLOURS.length],
            width: 1.25,
            spanGaps: true,
          })),
        ],
      },
      data,
      box,
    );
  }
  health.rebuild = false;
  countHealth();
}

// The lines' length, also while they are off screen and not drawn (tests and readers see it).
function countHealth() {
  const grad = document.getElementById("health-grad");
  if (grad) grad.dataset.points = String(health.steps.length);
}

export function startHealth() {
  const charts = document.getElementById("health-grad")?.closest(".health-charts");
  askDraw = redrawer(charts, drawHealth, { hidden: countHealth });
  point.on(addHealth);
  onStreamConnected(loadHealth); // (re)connected: the lines catch up with any steps missed
}
