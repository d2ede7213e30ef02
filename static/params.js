// microgpt-live: the Parameters panel. Every matrix of the model as a heatmap (one cell per
// parameter) through a lens (value, gradient, update, Adam's m and √v), a parameter followed up
// close with its gradient check, and per-matrix health lines.
//
// Frames come from GET /api/params.bin (a JSON header, then float32 data: per matrix, per lens,
// row-major), fetched when the stream's throttled `params` event says a new one is ready; at
// most one fetch is in flight, so the page never receives frames faster than it draws them.
// While the page views a past step (static/timeline.js: #view-step, `view-change` events), the
// frame is that step's (?step=k), fetched once per change, and `params` events are ignored.
// Health lines come with each step's `point` event on the same stream.
(() => {
  "use strict";
  // this page's run: every request goes to its own /api/runs/{id} (templates/base.html)
  const API = document.body.dataset.api || "/api";

  const grid = document.getElementById("params-grid");
  if (!grid) return;
  const tip = document.getElementById("params-tip");
  const scaleText = document.getElementById("params-scale");
  const stepText = document.getElementById("params-step");
  const LENS_LABEL = { value: "value", grad: "gradient", update: "update", m: "Adam m", v: "Adam √v" };
  const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f", "#000000", "#f0e442"];

  let frame = null; // {header, data, offsets}
  let model = null;
  let vocab = [];
  let lens = "value";
  let perMatrix = false; // one colour scale per matrix instead of one for all
  let inFlight = false;
  let again = false;
  let focus = null; // {index, row, col, steps: [], value: [], grad: [], update: [], plot}
  const health = {
    steps: [],
    grad: new Map(),
    ratio: new Map(),
    plots: {},
    dirty: false,
    loading: null, // points that arrived while the lines loaded
  };

  // ---------- frames ----------

  function decode(buf) {
    const n = new DataView(buf).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
    const data = new Float32Array(buf, 4 + n);
    const offsets = [];
    let at = 0;
    for (const m of header.matrices) {
      offsets.push(at);
      at += m.shape[0] * m.shape[1] * header.lenses.length;
    }
    return { header, data, offsets };
  }

  // The value of matrix i, lens name, row r, column c in the current frame.
  function at(f, i, name, r, c) {
    const [rows, cols] = f.header.matrices[i].shape;
    const k = f.header.lenses.indexOf(name);
    return f.data[f.offsets[i] + k * rows * cols + r * cols + c];
  }

  // The past step the page shows, or null: live.
  function viewing() {
    const v = document.getElementById("view-step")?.value ?? "";
    return v === "" ? null : Number(v);
  }

  async function fetchFrame() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      const past = viewing();
      const resp = await fetch(past === null ? `${API}/params.bin` : `${API}/params.bin?step=${past}`);
      if (!resp.ok) return;
      const next = decode(await resp.arrayBuffer());
      next.past = past !== null;
      if (next.header.model !== model) await newModel(next);
      frame = next;
      draw();
      drawMap();
      if (!frame.past) follow(); // the parameter followed up close follows training only
    } catch (e) {
      // offline: the stream's next event asks again
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        fetchFrame();
      }
    }
  }

  async function newModel(next) {
    model = next.header.model;
    try {
      vocab = (await (await fetch(`${API}/state`)).json()).vocab;
    } catch (e) {
      vocab = [];
    }
    unfollow();
    build(next.header.matrices);
    frame = next;
    pickerShapes(next.header.matrices);
  }

  // ---------- the heatmaps ----------

  function rowLabels(name, rows) {
    if ((name === "wte" || name === "lm_head") && vocab.length === rows) {
      return vocab.map((t) => (t === "[BOS]" ? "⏎" : t));
    }
    if (name === "wpe") return [...Array(rows).keys()].map(String);
    return null;
  }

  function build(matrices) {
    grid.replaceChildren();
    matrices.forEach((m, i) => {
      const [rows, cols] = m.shape;
      const cell = Math.max(3, Math.min(10, Math.floor(260 / Math.max(rows, cols))));
      const fig = document.createElement("figure");
      fig.className = "matrix";
      fig.dataset.name = m.name;
      const cap = document.createElement("figcaption");
      cap.textContent = `${m.name} ${rows}×${cols}`;
      const body = document.createElement("div");
      body.className = "matrix-body";
      const labels = rowLabels(m.name, rows);
      if (labels) {
        const col = document.createElement("div");
        col.className = "rowlabels";
        col.setAttribute("aria-hidden", "true");
        for (const text of labels) {
          const s = document.createElement("span");
          s.textContent = text;
          s.style.height = `${cell}px`;
          s.style.fontSize = `${Math.min(cell, 9)}px`;
          col.append(s);
        }
        body.append(col);
      }
      const canvas = document.createElement("canvas");
      canvas.width = cols;
      canvas.height = rows;
      canvas.style.width = `${cols * cell}px`;
      canvas.style.height = `${rows * cell}px`;
      canvas.dataset.index = String(i);
      canvas.dataset.cell = String(cell);
      canvas.dataset.testid = `matrix-${m.name}`;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${m.name}: ${rows} by ${cols} parameters`);
      canvas.addEventListener("mousemove", hover);
      canvas.addEventListener("mouseleave", () => (tip.hidden = true));
      canvas.addEventListener("click", select);
      body.append(canvas);
      fig.append(cap, body);
      grid.append(fig);
    });
  }

  function rgb(name) {
    const probe = document.createElement("span");
    probe.style.color = getComputedStyle(document.documentElement).getPropertyValue(name);
    document.body.append(probe);
    const m = getComputedStyle(probe).color.match(/\d+/g) || [255, 255, 255];
    probe.remove();
    return m.slice(0, 3).map(Number);
  }

  // Symmetric scale: the 99th percentile of |x| over every matrix, so one outlier does not wash
  // the picture out; cells beyond it are drawn at full colour.
  function scaleOf(f, name, only = null) {
    const abs = [];
    f.header.matrices.forEach((m, i) => {
      if (only !== null && i !== only) return;
      const [rows, cols] = m.shape;
      const k = f.header.lenses.indexOf(name);
      const base = f.offsets[i] + k * rows * cols;
      for (let j = 0; j < rows * cols; j++) {
        const x = f.data[base + j];
        if (!Number.isNaN(x)) abs.push(Math.abs(x));
      }
    });
    if (abs.length === 0) return null;
    abs.sort((a, b) => a - b);
    return abs[Math.min(abs.length - 1, Math.floor(abs.length * 0.99))] || abs[abs.length - 1] || 1;
  }

  // Diverging colour: blue below zero, the card's colour at 0, red above, full at ±scale.
  const NEG = [33, 102, 172];
  const POS = [178, 24, 43];
  function paint(pixels, p, x, scale, neutral) {
    let color = [150, 150, 150]; // no value (a step's gradient before any step)
    if (!Number.isNaN(x) && scale !== null) {
      const t = Math.max(-1, Math.min(1, x / scale));
      const end = t < 0 ? NEG : POS;
      const a = Math.abs(t);
      color = neutral.map((n, j) => Math.round(n + (end[j] - n) * a));
    }
    pixels[p] = color[0];
    pixels[p + 1] = color[1];
    pixels[p + 2] = color[2];
    pixels[p + 3] = 255;
  }

  function draw() {
    if (!frame) return;
    const { header } = frame;
    const shown = lens === "v" ? "v" : lens; // √v is drawn from v
    const lensScale = (only) => {
      const s = scaleOf(frame, shown, only);
      return s !== null && lens === "v" ? Math.sqrt(s) : s;
    };
    const shared = lensScale(null);
    const neutral = rgb("--card");
    header.matrices.forEach((m, i) => {
      const canvas = grid.querySelector(`canvas[data-index="${i}"]`);
      if (!canvas) return;
      const [rows, cols] = m.shape;
      const scale = perMatrix ? lensScale(i) : shared;
      const cap = canvas.closest("figure").querySelector("figcaption");
      cap.textContent = `${m.name} ${rows}×${cols}` + (perMatrix ? `  ±${fmt(scale)}` : "");
      const ctx = canvas.getContext("2d");
      const img = ctx.createImageData(cols, rows);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          let x = at(frame, i, shown, r, c);
          if (lens === "v") x = Math.sqrt(x);
          paint(img.data, 4 * (r * cols + c), x, scale, neutral);
        }
      }
      ctx.putImageData(img, 0, 0);
    });
    const label = LENS_LABEL[lens];
    const scale = shared;
    if (scale === null) {
      scaleText.textContent = `${label}: none yet (the model has not taken a step since it was made or loaded)`;
    } else if (perMatrix) {
      scaleText.textContent =
        `${label}: each matrix on its own scale, blue −s · white 0 · red +s, s beside its ` +
        "name (99th percentile of |x| in it)";
    } else {
      scaleText.textContent =
        `${label}: blue −${fmt(scale)} · white 0 · red +${fmt(scale)} ` +
        "(99th percentile of |x|; beyond it, full colour)";
    }
    scaleText.dataset.scale = scale === null ? "" : String(scale);
    stepText.textContent = `showing step ${header.step}`;
    stepText.dataset.step = String(header.step);
    grid.dataset.step = String(header.step);
  }

  function fmt(x) {
    if (x == null || Number.isNaN(x)) return "–";
    const a = Math.abs(x);
    return a !== 0 && (a < 1e-3 || a >= 1e4) ? x.toExponential(2) : x.toPrecision(3);
  }

  function cellAt(evt) {
    const canvas = evt.currentTarget;
    const cell = Number(canvas.dataset.cell);
    const i = Number(canvas.dataset.index);
    const m = frame.header.matrices[i];
    const r = Math.min(m.shape[0] - 1, Math.max(0, Math.floor(evt.offsetY / cell)));
    const c = Math.min(m.shape[1] - 1, Math.max(0, Math.floor(evt.offsetX / cell)));
    return { i, r, c, name: m.name };
  }

  function describeCell({ i, r, c, name }) {
    const v = at(frame, i, "v", r, c);
    return (
      `${name}[${r}][${c}]  value ${fmt(at(frame, i, "value", r, c))} · ` +
      `gradient ${fmt(at(frame, i, "grad", r, c))} · update ${fmt(at(frame, i, "update", r, c))} · ` +
      `m ${fmt(at(frame, i, "m", r, c))} · √v ${fmt(Math.sqrt(v))}`
    );
  }

  function hover(evt) {
    if (!frame) return;
    tip.textContent = describeCell(cellAt(evt));
    tip.hidden = false;
    const box = (tip.offsetParent || grid).getBoundingClientRect();
    tip.style.left = `${Math.max(0, Math.min(evt.clientX - box.left + 12, box.width - 360))}px`;
    tip.style.top = `${evt.clientY - box.top + 16}px`;
  }

  // ---------- the recipe's map: every parameter, one pixel each ----------

  // Matrices side by side (a 2-pixel gap), drawn through the gradient lens while the recipe's
  // walk is at "backward" (or shows a whole step), through the update lens at "update".
  // Viewing a past step, the map is the one in its recipe (#recipe-view), drawn from its frame.
  function drawMap() {
    if (!frame || frame.past !== (viewing() !== null)) return; // the other one's frame
    const where = frame.past ? "#recipe-view" : "#recipe";
    const canvas = document.querySelector(`${where} canvas[id^="recipe-map"]`);
    const view = document.querySelector(`${where} .recipe`);
    if (!canvas || !view) return;
    const phase = Number(view.dataset.at);
    if (phase < 3) return; // hidden until backward
    const name = phase === 4 ? "update" : "grad";
    const { matrices } = frame.header;
    const GAP = 2;
    // a matrix much taller than wide (mlp_fc1, 64×16) lies on its side: the map stays low
    const side = matrices.map((m) => m.shape[0] > 2 * m.shape[1]);
    const drawn = matrices.map((m, i) => (side[i] ? [m.shape[1], m.shape[0]] : m.shape));
    const width = drawn.reduce((w, [, cols]) => w + cols, 0) + GAP * (matrices.length - 1);
    const height = Math.max(...drawn.map(([rows]) => rows));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    const neutral = rgb("--card");
    const img = ctx.createImageData(width, height);
    const blank = rgb("--soft");
    for (let p = 0; p < img.data.length; p += 4) {
      img.data.set([...blank, 255], p);
    }
    const scale = scaleOf(frame, name);
    let x0 = 0;
    matrices.forEach((m, i) => {
      const [rows, cols] = m.shape;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const [y, x] = side[i] ? [c, r] : [r, c];
          paint(img.data, 4 * (y * width + x0 + x), at(frame, i, name, r, c), scale, neutral);
        }
      }
      x0 += drawn[i][1] + GAP;
    });
    ctx.putImageData(img, 0, 0);
    const step = frame.header.step;
    canvas.dataset.frameStep = String(step);
    canvas.dataset.lens = name;
    const order = matrices.map((m, i) => m.name + (side[i] ? " (on its side)" : "")).join(" · ");
    const what =
      scale === null
        ? "no gradient yet"
        : name === "grad"
          ? `the gradient of every parameter (backward), blue −${fmt(scale)} · red +${fmt(scale)}`
          : `what Adam changed in every parameter (update), blue −${fmt(scale)} · red +${fmt(scale)}`;
    const caption = document.querySelector(`${where} figcaption[id^="recipe-map-caption"]`);
    if (caption) caption.textContent = `step ${step}: ${what}; one pixel each, left to right ${order}`;
  }

  // ---------- one parameter, up close ----------

  function select(evt) {
    if (!frame) return;
    followCell(cellAt(evt));
  }

  // The picker: the same, from the keyboard (matrix by name, row and column by number).
  function pickerShapes(matrices) {
    const names = document.getElementById("pick-name");
    if (!names) return;
    names.replaceChildren(
      ...matrices.map((m, i) => new Option(`${m.name} (${m.shape[0]}×${m.shape[1]})`, String(i))),
    );
    pickerLimits();
  }

  function pickerLimits() {
    const form = document.getElementById("pick");
    if (!form || !frame) return;
    const [rows, cols] = frame.header.matrices[Number(form.elements.name.value) || 0].shape;
    form.elements.row.max = String(rows - 1);
    form.elements.col.max = String(cols - 1);
  }

  function pick(evt) {
    evt.preventDefault();
    const form = evt.currentTarget;
    const msg = document.getElementById("pick-msg");
    if (!frame) return;
    const i = Number(form.elements.name.value);
    const m = frame.header.matrices[i];
    const [rows, cols] = m.shape;
    const raw = { row: form.elements.row.value, column: form.elements.col.value };
    const [r, c] = [Number(raw.row), Number(raw.column)];
    const bad = (x, n, what) =>
      raw[what] === "" || !Number.isInteger(x) || x < 0 || x >= n
        ? `${what} ${raw[what] || "(empty)"} is not in ${m.name}: a whole number from 0 to ${n - 1}`
        : null;
    const problem = bad(r, rows, "row") || bad(c, cols, "column");
    msg.textContent = problem || "";
    if (!problem) followCell({ i, r, c, name: m.name });
  }

  function followCell({ i, r, c, name }) {
    const form = document.getElementById("pick");
    if (form) {
      form.elements.name.value = String(i);
      form.elements.row.value = String(r);
      form.elements.col.value = String(c);
      pickerLimits();
    }
    unfollow();
    focus = { i, r, c, name, steps: [], value: [], grad: [], update: [], plot: null };
    document.getElementById("focus").hidden = false;
    document.getElementById("focus-empty").hidden = true;
    document.getElementById("focus-name").textContent = `${name}[${r}][${c}]`;
    document.getElementById("gradcheck-out").textContent = "";
    follow();
    // the graph of one step (static/graph.js) selects the same parameter
    document.dispatchEvent(new CustomEvent("param-selected", { detail: { name, row: r, col: c } }));
  }

  function unfollow() {
    if (focus?.plot) focus.plot.destroy();
    focus = null;
    const box = document.getElementById("focus");
    if (box) box.hidden = true;
    const empty = document.getElementById("focus-empty");
    if (empty) empty.hidden = false;
  }

  function follow() {
    if (!focus || !frame) return;
    const step = frame.header.step;
    if (focus.steps.length && focus.steps[focus.steps.length - 1] >= step) {
      if (focus.steps[focus.steps.length - 1] > step) unfollowKeep(step);
      else return;
    }
    const { i, r, c } = focus;
    focus.steps.push(step);
    focus.value.push(at(frame, i, "value", r, c));
    focus.grad.push(nullIfNaN(at(frame, i, "grad", r, c)));
    focus.update.push(nullIfNaN(at(frame, i, "update", r, c)));
    document.getElementById("focus-now").textContent = describeCell(focus).split("  ")[1];
    drawFocus();
  }

  // The model went back (a failed or diverged run): drop the steps after it.
  function unfollowKeep(step) {
    while (focus.steps.length && focus.steps[focus.steps.length - 1] >= step) {
      for (const k of ["steps", "value", "grad", "update"]) focus[k].pop();
    }
  }

  function nullIfNaN(x) {
    return Number.isNaN(x) ? null : x;
  }

  function drawFocus() {
    const box = document.getElementById("focus-chart");
    if (!box || typeof uPlot === "undefined") return;
    const data = [focus.steps, focus.value, focus.grad, focus.update];
    if (focus.plot) {
      focus.plot.setData(data);
      return;
    }
    const ink = getComputedStyle(document.documentElement).getPropertyValue("--muted").trim();
    const axis = { stroke: ink, font: "11px system-ui, sans-serif", size: 52 };
    focus.plot = new uPlot(
      {
        width: Math.max(260, Math.min(560, box.clientWidth || 520)),
        height: 160,
        scales: { x: { time: false } },
        axes: [{ ...axis, size: 30 }, { ...axis, scale: "v" }, { ...axis, scale: "g", side: 1 }],
        series: [
          { label: "step" },
          { label: "value", stroke: PALETTE[0], width: 2, scale: "v", value: (u, v) => fmt(v) },
          { label: "gradient", stroke: PALETTE[1], width: 1.5, scale: "g", value: (u, v) => fmt(v) },
          { label: "update", stroke: PALETTE[2], width: 1.5, scale: "g", value: (u, v) => fmt(v) },
        ],
      },
      data,
      box,
    );
  }

  async function gradcheck() {
    const out = document.getElementById("gradcheck-out");
    if (!focus) return;
    out.textContent = "checking…";
    const q = new URLSearchParams({ name: focus.name, row: focus.r, col: focus.c });
    try {
      const resp = await fetch(`${API}/gradcheck?${q}`);
      const body = await resp.json();
      if (!resp.ok) {
        out.textContent = body.detail;
        return;
      }
      const diff = Math.abs(body.autograd - body.numeric);
      const rel = diff / Math.max(Math.abs(body.autograd), Math.abs(body.numeric), 1e-12);
      out.textContent =
        `step ${body.step}: autograd ${body.autograd.toExponential(9)} · ` +
        `numeric ${body.numeric.toExponential(9)} (h ${body.h}) · ` +
        `they differ by ${rel.toExponential(1)} of their size`;
      out.dataset.relative = String(rel);
    } catch (e) {
      out.textContent = "the server did not answer; try again";
    }
  }

  // ---------- health lines ----------

  // The lines so far (this server process's steps of this model), then the stream's points;
  // points that arrive while the lines load are kept and added after them.
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

  function scheduleHealth() {
    if (!health.dirty) {
      health.dirty = true;
      requestAnimationFrame(drawHealth);
    }
  }

  function addHealth(p) {
    if (!p.health) return;
    if (health.loading) {
      health.loading.push(p);
      return;
    }
    const last = health.steps[health.steps.length - 1];
    if (health.steps.length && p.step === last) return; // loaded already
    if (health.steps.length && p.step <= health.steps[health.steps.length - 1]) {
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
      const ink = getComputedStyle(document.documentElement).getPropertyValue("--muted").trim();
      const axis = { stroke: ink, font: "11px system-ui, sans-serif" };
      health.plots[key] = new uPlot(
        {
          width: Math.max(260, box.clientWidth || 520),
          height: 170,
          scales: { x: { time: false }, y: { distr: 3 } },
          axes: [{ ...axis }, { ...axis, size: 66, values: (u, vals) => vals.map(fmt) }],
          legend: { live: false },
          series: [
            { label: "step" },
            ...[...series.keys()].map((name, j) => ({
              label: name,
              stroke: PALETTE[j % PALETTE.length],
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
    const grad = document.getElementById("health-grad");
    if (grad) grad.dataset.points = String(health.steps.length);
  }

  // ---------- wiring ----------

  document.addEventListener("params", () => {
    if (viewing() === null) fetchFrame();
  });
  // the step on view changed, or its recipe was rendered anew (a blank map: draw it again)
  document.body.addEventListener("view-change", () => {
    if (frame?.past && frame.header.step === viewing()) drawMap();
    else fetchFrame();
  });
  document.addEventListener("recipe-phase", drawMap);
  document.addEventListener("point", (evt) => {
    try {
      addHealth(JSON.parse(evt.detail.data));
    } catch (e) {
      /* malformed: ignore */
    }
  });
  // (re)connected: the lines catch up with any steps missed
  document.getElementById("stream")?.addEventListener("htmx:sse:after:connection", loadHealth);
  document.addEventListener("change", (evt) => {
    if (evt.target.name === "lens") {
      lens = evt.target.value;
      draw();
    } else if (evt.target.id === "per-matrix") {
      perMatrix = evt.target.checked;
      draw();
    }
  });
  document.getElementById("gradcheck")?.addEventListener("click", gradcheck);
  document.getElementById("pick")?.addEventListener("submit", pick);
  document.getElementById("pick-name")?.addEventListener("change", pickerLimits);
  window.addEventListener("load", fetchFrame);
  if (document.readyState === "complete") fetchFrame();
})();
