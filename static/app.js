// microgpt-live: the only hand-written JavaScript. Everything else is server-rendered HTML that
// htmx swaps in from the one event stream (#stream, hx-sse:connect="/ui/events").
// This file does what hypermedia cannot: the uPlot loss chart (fed by the stream's JSON `point`
// events, seeded from GET /api/history) with its text description for screen readers, the
// "live / reconnecting…" indicator, and the temperature slider's read-out.
(() => {
  "use strict";

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
  let plot = null;
  let dirty = false;
  let model = null; // the model generation the points belong to
  let plotVocab = null; // the vocabulary size the plot's uniform-guess line was made for

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function chartData() {
    const steps = [...points.keys()].sort((a, b) => a - b);
    const loss = steps.map((s) => points.get(s)[0]);
    const smooth = steps.map((s) => points.get(s)[1]);
    const uniform = Math.log(plotVocab ?? vocabSize());
    const ref = steps.map(() => uniform);
    return [steps, loss, smooth, ref];
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
        scales: { x: { time: false } },
        legend: { live: true },
        hooks: { setCursor: [showLatestInLegend] },
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
            label: `uniform guess (ln ${plotVocab})`,
            stroke: ink,
            width: 1,
            dash: [6, 5],
            points: { show: false },
            value: () => uniform.toFixed(2),
          },
        ],
      },
      chartData(),
      chartBox,
    );
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
    const empty = document.getElementById("loss-empty");
    if (empty) empty.hidden = points.size > 0;
    describe();
  }

  // What the chart shows, in words (the canvas's description; not a live region).
  function describe() {
    if (!chartDesc) return;
    const v = plotVocab ?? vocabSize();
    const uniform = `a uniform guess over ${v} tokens scores ${Math.log(v).toFixed(2)}`;
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
    chartDesc.textContent =
      `Loss over steps ${first} to ${last}: at step ${last} the loss is ${fmt(loss, 3)}, ` +
      `smoothed ${fmt(smooth, 3)}, started at ${fmt(points.get(first)[1], 3)}; ${uniform}.`;
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
    }
    if (p.model != null) model = p.model;
    points.set(p.step, [p.loss, p.smooth]);
    schedule();
  }

  async function loadHistory() {
    try {
      const resp = await fetch("/api/history", { headers: { Accept: "application/json" } });
      if (!resp.ok) return;
      const hist = await resp.json();
      if (model != null && hist.model !== model) points.clear();
      model = hist.model;
      for (const p of hist.points) points.set(p.step, [p.loss, p.smooth]);
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
  });
  // A run failed or diverged: the model went back to a checkpoint, its later steps are gone.
  document.addEventListener("chart-trim", (evt) => {
    try {
      const step = JSON.parse(evt.detail.data).step;
      for (const s of [...points.keys()]) if (s > step) points.delete(s);
      schedule();
    } catch (e) {
      /* malformed: ignore */
    }
  });
  document.addEventListener("chart-reset", (evt) => {
    points.clear();
    if (plot) plot.destroy(); // a fresh plot: no axes left over from the old model's scale
    plot = null;
    try {
      model = JSON.parse(evt.detail.data).model;
    } catch (e) {
      model = null;
    }
    dirty = true;
    redraw(); // made for the new model's vocabulary
  });

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
