// microgpt-live: the only hand-written JavaScript. Everything else is server-rendered HTML that
// htmx swaps in from the one event stream (#stream, hx-sse:connect="/ui/events").
// This file does what hypermedia cannot: the uPlot loss chart (fed by the stream's JSON `point`
// and `val-point` events, seeded from GET /api/history) with its text description for screen readers, the
// "live / reconnecting…" indicator, and the temperature slider's read-out; and, for time
// travel, the line of one character's probability after "e" at every step (GET /api/probes).
// A click on either chart asks static/timeline.js to show that step (`view-request`); the step
// on view (its `view-change` events) is marked on both.
(() => {
  "use strict";
  // this page's run: every request goes to its own /api/runs/{id} (templates/base.html)
  const API = document.body.dataset.api || "/api";

  const stream = document.getElementById("stream");
  const chartBox = document.getElementById("loss-chart");
  const chartDesc = document.getElementById("loss-desc");
  const conn = document.getElementById("conn");

  // The vocabulary size of the current model, from the server-rendered facts chips (re-rendered
  // when the model changes): a uniform guess over V tokens scores ln V.
  function vocabSize() {
    const v = Number(document.getElementById("model-facts")?.dataset.vocabSize);
    return v > 1 ? v : 27;
  }

  // ---------- loss chart ----------

  const points = new Map(); // step -> [loss, smooth]
  const val = new Map(); // step -> loss on the held-out documents (every few steps)
  // A forked run: its parent's smoothed curve up to the fork, drawn in a lighter tone
  const parentApi = document.body.dataset.parentApi || null;
  const parentStep = Number(document.body.dataset.parentStep);
  const parentPoints = new Map(); // step -> smooth, steps 1..parentStep
  let plot = null;
  let dirty = false;
  let model = null; // the model generation the points belong to
  let plotVocab = null; // the vocabulary size the plot's uniform-guess line was made for
  let viewStep = viewing(); // the past step the page shows (null: live), marked on the chart

  function viewing() {
    const v = document.getElementById("view-step")?.value ?? "";
    return v === "" ? null : Number(v);
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function chartData() {
    const all = new Set([...parentPoints.keys(), ...points.keys(), ...val.keys()]);
    const steps = [...all].sort((a, b) => a - b);
    const loss = steps.map((s) => points.get(s)?.[0] ?? null);
    const smooth = steps.map((s) => points.get(s)?.[1] ?? null);
    const held = steps.map((s) => val.get(s) ?? null);
    const uniform = Math.log(plotVocab ?? vocabSize());
    const ref = steps.map(() => uniform);
    if (!parentApi) return [steps, loss, smooth, held, ref];
    return [steps, loss, smooth, held, ref, steps.map((s) => parentPoints.get(s) ?? null)];
  }

  async function loadParent() {
    if (!parentApi) return;
    try {
      const resp = await fetch(`${parentApi}/history`, { headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      for (const p of (await resp.json()).points) {
        if (p.step <= parentStep) parentPoints.set(p.step, p.smooth);
      }
      if (chartBox) chartBox.dataset.parentPoints = String(parentPoints.size);
      dirty = true;
      redraw();
    } catch (e) {
      // offline: the chart shows this run's own curve
    }
  }

  // Tick labels: one decimal, or two when a tick needs them (0.25 must not read "0.3").
  function decimals(vals) {
    return vals.some((v) => v != null && Math.abs(v * 10 - Math.round(v * 10)) > 1e-6) ? 2 : 1;
  }

  function fmt(v, digits) {
    return v == null ? "–" : v.toFixed(digits);
  }

  function makePlot() {
    if (!chartBox || typeof uPlot === "undefined") return;
    if (plot) plot.destroy();
    plotVocab = vocabSize();
    const uniform = Math.log(plotVocab);
    const ink = css("--muted");
    const line = css("--line");
    const accent = css("--accent");
    const faint = css("--faint");
    const held = css("--val");
    const axis = {
      stroke: ink,
      grid: { stroke: line, width: 1 },
      ticks: { stroke: line, width: 1 },
      font: "12px system-ui, sans-serif",
    };
    const width = Math.max(280, chartBox.clientWidth);
    plot = new uPlot(
      {
        width,
        height: width < 500 ? 220 : 280,
        cursor: { points: { size: 7 }, drag: { x: false, y: false } },
        scales: { x: { time: false, range: (u, min, max) => historyRange(min, max) } },
        legend: { live: true },
        hooks: { setCursor: [showLatestInLegend], draw: [markView, alignTimeline] },
        axes: [
          { ...axis, label: "step", labelSize: 18, labelFont: "12px system-ui, sans-serif" },
          { ...axis, size: 44, values: (u, vals) => vals.map((v) => v.toFixed(decimals(vals))) },
        ],
        series: [
          { label: "step", value: (u, v) => (v == null ? "–" : String(v)) },
          {
            label: "loss",
            stroke: faint,
            width: 1,
            alpha: 0.4,
            points: { show: false },
            value: (u, v) => fmt(v, 3),
          },
          {
            label: "smoothed",
            stroke: accent,
            width: 2.5,
            points: { show: false },
            value: (u, v) => fmt(v, 3),
          },
          {
            // measured every few steps: a line through the points, across the steps between
            label: "held-out",
            stroke: held,
            width: 2,
            spanGaps: true,
            points: { show: true, size: 5, fill: held },
            value: (u, v) => fmt(v, 3),
          },
          {
            label: `uniform guess (ln ${plotVocab})`,
            stroke: ink,
            width: 1,
            dash: [6, 5],
            points: { show: false },
            value: () => uniform.toFixed(2),
          },
          ...(parentApi
            ? [
                {
                  label: `before the fork (step ${parentStep})`,
                  stroke: accent,
                  alpha: 0.35,
                  width: 2,
                  points: { show: false },
                  value: (u, v) => fmt(v, 3),
                },
              ]
            : []),
        ],
      },
      chartData(),
      chartBox,
    );
    const made = plot;
    plot.over.addEventListener("click", (evt) => askForStep(made, evt));
    // the canvas is a picture: name it, and point to the text that says what it shows
    const canvas = plot.root.querySelector("canvas");
    if (canvas) {
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", "Loss per training step");
      canvas.setAttribute("aria-describedby", "loss-desc");
    }
    showCount();
  }

  // Off the chart, the legend shows the latest step rather than dashes.
  function showLatestInLegend(u) {
    const n = u.data[0].length;
    if (u.cursor.idx == null && n > 0) u.setLegend({ idx: n - 1 });
  }

  // The x axis spans the model's viewable history, as the timeline under the chart does: from
  // its first step (the timeline's min; the first loss is step 1's) to the newest.
  function historyRange(min, max) {
    if (min == null || max == null) return [min, max];
    const lo = Number(document.getElementById("timeline")?.min);
    const first = Number.isFinite(lo) ? Math.min(lo, min) : min;
    return first === max ? [first, first + 1] : [first, max];
  }

  // The timeline lines up with the plot area (app.css: --plot-left, --plot-width), so that its
  // thumb sits under the step it shows, like the mark drawn on the chart.
  function alignTimeline(u) {
    const box = document.querySelector(".timeline");
    if (!box) return;
    for (const [name, px] of [
      ["--plot-left", u.bbox.left],
      ["--plot-width", u.bbox.width],
    ]) {
      const value = `${Math.round(px / devicePixelRatio)}px`; // bbox: in canvas pixels
      if (box.style.getPropertyValue(name) !== value) box.style.setProperty(name, value);
    }
  }

  // A click on a chart: see the model as it was at that step (static/timeline.js goes there).
  function askForStep(u, evt) {
    if (!u.data[0].length) return;
    const step = u.posToVal(evt.clientX - u.over.getBoundingClientRect().left, "x");
    document.dispatchEvent(new CustomEvent("view-request", { detail: { step } }));
  }

  // The step on view, as a dashed line across a plot.
  function markView(u) {
    if (viewStep === null || !u.data[0].length) return;
    const x = u.valToPos(viewStep, "x", true);
    const { top, height, left, width } = u.bbox;
    if (x < left - 1 || x > left + width + 1) return;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = css("--past");
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.restore();
  }

  function redraw() {
    if (!dirty) return;
    dirty = false;
    if (!plot || plotVocab !== vocabSize()) makePlot();
    else {
      plot.setData(chartData());
      showLatestInLegend(plot);
    }
    showCount();
  }

  function showCount() {
    if (!chartBox) return;
    chartBox.dataset.points = String(points.size); // for tests and curious readers
    chartBox.dataset.valPoints = String(val.size);
    const empty = document.getElementById("loss-empty");
    if (empty) empty.hidden = points.size > 0 || parentPoints.size > 0;
    describe();
  }

  // What the chart shows, in words (the canvas's description; not a live region).
  function describe() {
    if (!chartDesc) return;
    const v = plotVocab ?? vocabSize();
    let uniform = `a uniform guess over ${v} tokens scores ${Math.log(v).toFixed(2)}`;
    if (parentPoints.size) {
      uniform += `; the lighter line is the run it was forked from, up to step ${parentStep}`;
    }
    if (points.size === 0) {
      chartDesc.textContent = `No training steps yet; ${uniform}.`;
      return;
    }
    let first = Infinity;
    let last = -Infinity;
    for (const s of points.keys()) {
      if (s < first) first = s;
      if (s > last) last = s;
    }
    const [loss, smooth] = points.get(last);
    let held = "";
    if (val.size) {
      const at = Math.max(...val.keys());
      held =
        `; on documents it never trains on (held out), the loss at step ${at} is ` +
        `${fmt(val.get(at), 3)}`;
    }
    chartDesc.textContent =
      `Loss over steps ${first} to ${last}: at step ${last} the loss is ${fmt(loss, 3)}, ` +
      `smoothed ${fmt(smooth, 3)}, started at ${fmt(points.get(first)[1], 3)}${held}; ` +
      `${uniform}.`;
  }

  function schedule() {
    if (!dirty) {
      dirty = true;
      requestAnimationFrame(redraw);
    }
  }

  function addPoint(p) {
    if (model != null && p.model != null && p.model !== model) {
      points.clear();
      val.clear();
    }
    if (p.model != null) model = p.model;
    points.set(p.step, [p.loss, p.smooth]);
    schedule();
  }

  async function loadHistory() {
    try {
      const resp = await fetch(`${API}/history`, { headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      const hist = await resp.json();
      if (model != null && hist.model !== model) {
        points.clear();
        val.clear();
      }
      model = hist.model;
      for (const p of hist.points) points.set(p.step, [p.loss, p.smooth]);
      for (const p of hist.val ?? []) val.set(p.step, p.loss);
      dirty = true;
      redraw();
    } catch (e) {
      // offline: the stream's reconnect will call us again
    }
  }

  document.addEventListener("point", (evt) => {
    try {
      addPoint(JSON.parse(evt.detail.data));
    } catch (e) {
      /* malformed point: ignore */
    }
    line.more();
  });
  document.addEventListener("val-point", (evt) => {
    try {
      const p = JSON.parse(evt.detail.data);
      if (model != null && p.model !== model) return; // a replaced model's: history reloads
      val.set(p.step, p.val);
      schedule();
    } catch (e) {
      /* malformed point: ignore */
    }
  });
  // A run failed or diverged: the model went back to a checkpoint, its later steps are gone.
  document.addEventListener("chart-trim", (evt) => {
    try {
      const step = JSON.parse(evt.detail.data).step;
      for (const s of [...points.keys()]) if (s > step) points.delete(s);
      for (const s of [...val.keys()]) if (s > step) val.delete(s);
      schedule();
      line.trim(step);
    } catch (e) {
      /* malformed: ignore */
    }
  });
  document.body.addEventListener("view-change", (evt) => {
    viewStep = evt.detail?.step ?? null;
    remark(plot);
    line.redraw();
  });

  // Draw a plot again for its mark (uPlot's redraw fails on a plot without data: its axes
  // have no range).
  function remark(u) {
    if (u && u.data[0].length) u.redraw(false);
  }

  if (chartBox) {
    let lastWidth = 0;
    new ResizeObserver(() => {
      const w = chartBox.clientWidth;
      if (plot && Math.abs(w - lastWidth) > 4) {
        lastWidth = w;
        plot.setSize({ width: Math.max(280, w), height: w < 500 ? 220 : 280 });
      }
    }).observe(chartBox);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", makePlot);
  }

  // ---------- one character's probability after the probe's prefix, every step ----------

  // The character comes from a select of the model's vocabulary; its default is the character
  // most likely after the prefix at the newest step, until the reader picks one. Both, and the
  // prefix, come from the small multiples the server renders (data-vocab, data-top,
  // data-prefix), re-rendered every few seconds while training and for a new model.
  const line = probeLine();

  function probeLine() {
    const box = document.getElementById("probe-line");
    const select = document.getElementById("probe-char");
    const desc = document.getElementById("probe-line-desc");
    const multiples = document.getElementById("multiples");
    if (!box || !select || !multiples) return { redraw() {}, more() {}, trim() {}, reset() {} };
    const s = { prefix: null, char: null, vocab: "", model: null, steps: [], probs: [] };
    let lplot = null;
    let picked = false; // the reader chose a character: the default no longer moves it
    let inFlight = false;
    let again = false;
    let timer = null;

    const labelOf = (t) => (t === "[BOS]" ? "⏎ (end of name)" : t);
    const prefixLabel = (p) => (p ? `“${p}”` : "[BOS]");

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
        const resp = await fetch(`${API}/probes?${q}`);
        if (!resp.ok) return;
        const body = await resp.json();
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

    function reset() {
      s.vocab = ""; // the new model's multiples bring its vocabulary and default
      s.prefix = null; // and its line is loaded afresh, even for the same character
      clear();
      choices();
    }

    function make() {
      const ink = css("--muted");
      const axis = {
        stroke: ink,
        grid: { stroke: css("--line"), width: 1 },
        ticks: { stroke: css("--line"), width: 1 },
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
          hooks: { draw: [markView] },
          axes: [
            { ...axis, label: "step", labelSize: 16, labelFont: "11px system-ui, sans-serif" },
            { ...axis, size: 46, values: (u, vals) => vals.map((v) => `${+v.toFixed(1)}%`) },
          ],
          series: [
            { label: "step" },
            { label: "probability", stroke: css("--accent"), width: 2, points: { show: false } },
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
      const at = (j) => `${s.probs[j].toFixed(1)}% at step ${s.steps[j].toLocaleString("en-US")}`;
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
    let lastWidth = 0;
    new ResizeObserver(() => {
      const w = box.clientWidth;
      if (lplot && Math.abs(w - lastWidth) > 4) {
        lastWidth = w;
        lplot.setSize({ width: Math.max(260, w), height: 170 });
      }
    }).observe(box);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      lplot?.destroy();
      lplot = null;
      draw();
    });
    choices();

    return { redraw: () => remark(lplot), more, trim, reset };
  }

  // ---------- connection state ----------

  function setConn(state, text) {
    if (!conn) return;
    conn.dataset.conn = state;
    conn.textContent = text;
  }

  if (stream) {
    stream.addEventListener("htmx:sse:after:connection", () => {
      setConn("live", "● live");
      loadHistory(); // (re)connected: the chart catches up with anything missed
      if (parentPoints.size === 0) loadParent(); // a parent's past does not change
    });
    stream.addEventListener("htmx:sse:before:connection", (evt) => {
      if (evt.detail?.connection?.attempt > 0) setConn("reconnecting", "reconnecting…");
    });
    stream.addEventListener("htmx:sse:error", () => setConn("reconnecting", "reconnecting…"));
    stream.addEventListener("htmx:sse:close", () => setConn("closed", "disconnected — reload"));
  }
  window.addEventListener("offline", () => setConn("reconnecting", "reconnecting…"));

  // ---------- the Train button says how many steps it will train ----------

  // From the steps field, as typed; after every re-render of the buttons too (each status
  // event re-renders them with the default). An invalid number leaves just "Train": the
  // server names what is wrong when it is pressed.
  function trainLabel() {
    const span = document.querySelector("[data-testid=train] .train-steps");
    const field = document.getElementById("steps");
    if (!span || !field) return;
    const n = Number(field.value);
    const ok = field.value.trim() !== "" && Number.isInteger(n) && n >= 1 && n <= Number(field.max);
    const text = ok ? `${n.toLocaleString("en-US")} step${n === 1 ? "" : "s"}` : "";
    if (span.textContent !== text) span.textContent = text;
  }
  const controlsBox = document.getElementById("controls");
  if (controlsBox) {
    // a morph may change only the label's text node: characterData, not childList
    const watch = { childList: true, subtree: true, characterData: true };
    new MutationObserver(trainLabel).observe(controlsBox, watch);
  }
  trainLabel();

  // ---------- temperature read-out ----------

  document.addEventListener("input", (evt) => {
    const t = evt.target;
    if (t.id === "temperature" && t.form?.elements.t_out) {
      t.form.elements.t_out.value = Number(t.value).toFixed(1);
    } else if (t.id === "steps") {
      trainLabel();
    }
  });

  makePlot();
})();
