// Time travel's line: one character's probability after the probe's prefix at every step
// (GET /api/probes), under the small multiples. The character comes from a select of the
// model's vocabulary; its default is the character most likely after the prefix at the newest
// step, until the reader picks one. Both, and the prefix, come from the small multiples the
// server renders (data-vocab, data-top, data-prefix), re-rendered every few seconds while
// training and for a new model. A click asks timeline.js for that step; the step on view is
// marked.

import { API, getJSON } from "./api.js";
import { chartTrim, point, viewChange } from "./events.js";
import { thousands } from "./format.js";
import { askForStep, cssVar, markStep, onWidthChange, remark } from "./plot.js";
import { wantedStep } from "./view.js";

const labelOf = (t) => (t === "[BOS]" ? "⏎ (end of name)" : t);
const prefixLabel = (p) => (p ? `“${p}”` : "[BOS]");

export function startProbeLine() {
  const box = document.getElementById("probe-line");
  const select = document.getElementById("probe-char");
  const desc = document.getElementById("probe-line-desc");
  const multiples = document.getElementById("multiples");
  if (!box || !select || !multiples) return;
  const s = { prefix: null, char: null, vocab: "", model: null, steps: [], probs: [] };
  let lplot = null;
  let picked = false; // the reader chose a character: the default no longer moves it
  let inFlight = false;
  let again = false;
  let timer = null;
  let viewStep = wantedStep(); // marked on the line (null: live)

  function info() {
    const el = multiples.querySelector(".multiples");
    if (!el) return null;
    try {
      const vocab = JSON.parse(el.dataset.vocab);
      return { prefix: el.dataset.prefix ?? "", top: el.dataset.top, vocab };
    } catch (e) {
      return null;
    }
  }

  function choices() {
    const i = info();
    if (!i) return;
    const vocab = JSON.stringify(i.vocab);
    if (vocab !== s.vocab) {
      s.vocab = vocab;
      picked = false;
      select.replaceChildren(...i.vocab.map((t) => new Option(labelOf(t), t)));
    }
    if (!picked && i.top && i.vocab.includes(i.top)) select.value = i.top;
    for (const el of document.querySelectorAll("[data-probe-label]")) {
      el.textContent = prefixLabel(i.prefix);
    }
    if (i.prefix !== s.prefix || select.value !== s.char) {
      s.prefix = i.prefix;
      s.char = select.value;
      clear();
      load();
    }
  }

  function clear() {
    s.steps = [];
    s.probs = [];
    s.model = null;
    lplot?.destroy();
    lplot = null;
    draw();
  }

  // The points after the last one held (all of them the first time); one request at a time.
  async function load() {
    if (!s.char) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    const [prefix, char] = [s.prefix, s.char];
    const since = s.steps.length ? s.steps[s.steps.length - 1] : -1;
    try {
      const q = new URLSearchParams({ prefix, char, since: String(since) });
      const body = await getJSON(`${API}/probes?${q}`);
      if (!body) return;
      if (prefix !== s.prefix || char !== s.char) return; // another line was asked for since
      if (s.model !== null && body.model !== s.model) {
        clear(); // a new model: its line from the start
        again = true;
        return;
      }
      s.model = body.model;
      body.steps.forEach((step, j) => {
        if (!s.steps.length || step > s.steps[s.steps.length - 1]) {
          s.steps.push(step);
          s.probs.push(body.probs[j] * 100);
        }
      });
      draw();
    } catch (e) {
      // offline: the next point asks again
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        load();
      }
    }
  }

  // While training: the new points about once a second, not once a step.
  function more() {
    if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        load();
      }, 1000);
    }
  }

  function trim(step) {
    while (s.steps.length && s.steps[s.steps.length - 1] > step) {
      s.steps.pop();
      s.probs.pop();
    }
    draw();
  }

  function make() {
    const axis = {
      stroke: cssVar("--muted"),
      grid: { stroke: cssVar("--line"), width: 1 },
      ticks: { stroke: cssVar("--line"), width: 1 },
      font: "11px system-ui, sans-serif",
    };
    lplot = new uPlot(
      {
        width: Math.max(260, box.clientWidth),
        height: 170,
        scales: {
          x: { time: false },
          y: { range: (u, min, max) => [0, Math.max(5, max * 1.1)] }, // from 0%, at least 5%
        },
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        legend: { show: false },
        hooks: { draw: [(u) => markStep(u, viewStep)] },
        axes: [
          { ...axis, label: "step", labelSize: 16, labelFont: "11px system-ui, sans-serif" },
          { ...axis, size: 46, values: (u, vals) => vals.map((v) => `${+v.toFixed(1)}%`) },
        ],
        series: [
          { label: "step" },
          { label: "probability", stroke: cssVar("--accent"), width: 2, points: { show: false } },
        ],
      },
      [s.steps, s.probs],
      box,
    );
    const made = lplot;
    lplot.over.addEventListener("click", (evt) => askForStep(made, evt));
    const canvas = lplot.root.querySelector("canvas");
    canvas?.setAttribute("role", "img");
    canvas?.setAttribute("aria-describedby", "probe-line-desc");
  }

  function draw() {
    if (typeof uPlot === "undefined") return;
    if (!lplot && s.steps.length) make();
    else lplot?.setData([s.steps, s.probs]);
    describe();
  }

  // In words: for screen readers, and for anyone after exact values.
  function describe() {
    box.dataset.points = String(s.steps.length);
    box.dataset.char = s.char ?? "";
    const what = `p(${labelOf(s.char ?? "")} after ${prefixLabel(s.prefix ?? "")})`;
    lplot?.root.querySelector("canvas")?.setAttribute("aria-label", `${what} at every step`);
    if (!desc) return;
    const n = s.steps.length;
    const at = (j) => `${s.probs[j].toFixed(1)}% at step ${thousands(s.steps[j])}`;
    desc.textContent = n ? `${at(0)} → ${at(n - 1)}` : "";
  }

  select.addEventListener("change", () => {
    picked = true;
    choices();
  });
  new MutationObserver(choices).observe(multiples, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["data-vocab", "data-top", "data-prefix"],
  });
  onWidthChange(box, (w) => {
    if (!lplot) return false;
    lplot.setSize({ width: Math.max(260, w), height: 170 });
    return true;
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    lplot?.destroy();
    lplot = null;
    draw();
  });
  point.on(more);
  chartTrim.on(({ step }) => trim(step));
  viewChange.on(({ step }) => {
    viewStep = step ?? null;
    remark(lplot);
  });
  choices();
}
