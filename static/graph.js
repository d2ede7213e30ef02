// microgpt-live: the graph of one step. Every scalar one training step computed (GET
// /api/graph: ~6,500 nodes, ~54,000 edges), drawn the way a learner reads the model: the
// parameters on the left, one lane per position (embedding → attention heads → attn out → MLP →
// logits → −log p), the mean loss on the right. Groups start collapsed (one box each, edges
// between boxes bundled into one line with a count); a box expands to its scalar nodes.
//
// Three ways in: "Play backward" lights the groups from the loss back to the parameters (a
// wave per level of the group graph, by node inside expanded groups); a selected node shows
// the chain rule with its numbers (grad = Σ over its consumers of consumer's grad × local); a
// selected parameter lights every path from it to the loss.
//
// Nothing is fetched until the card is opened; then one fetch per step shown: the step the
// page views (html[data-view], `view-change` events from static/timeline.js), else the
// newest. Training steps arriving meanwhile only offer "Show the newest step".
(() => {
  "use strict";
  // this page's run: every request goes to its own /api/runs/{id} (templates/base.html)
  const API = document.body.dataset.api || "/api";

  const card = document.getElementById("graph-card");
  if (!card) return;
  const details = document.getElementById("graph-details");
  const view = document.getElementById("graph-view");
  const stepLine = document.getElementById("graph-step");
  const newestBtn = document.getElementById("graph-newest");
  const msg = document.getElementById("graph-msg");
  const summary = document.getElementById("graph-summary");
  const bpLine = document.getElementById("graph-bp");
  const announce = document.getElementById("graph-announce");
  const playBtn = document.getElementById("graph-play");
  const skipBtn = document.getElementById("graph-skip");
  const stopBtn = document.getElementById("graph-stop");
  const paramForm = document.getElementById("graph-param-form");
  const paramInput = document.getElementById("graph-param");
  const paramList = document.getElementById("graph-param-list");
  const paramMsg = document.getElementById("graph-param-msg");
  const inspector = document.getElementById("graph-inspector");
  const inspectTitle = document.getElementById("h-graph-inspect");
  const inspectBody = document.getElementById("graph-inspect-body");
  const tools = card.querySelectorAll(".graph-tools button, .graph-tools input");

  const SVG = "http://www.w3.org/2000/svg";
  const SMALL = 60; // a group this size or smaller shows all its nodes when expanded
  const FIRST = 40; // a larger one shows its first FIRST (and the selected node), "… N more"
  const EDGE_LIMIT = 120; // in-group edges drawn when this few; else only the selected node's
  const WAVE_MS = 300; // one level of the group graph per wave: ~3 s for the default model
  const NARROW = 760; // below this width: lanes as lists instead of the drawing
  // The viewed step must hold this long before its graph is asked for: a drag along the
  // timeline changes it every 150 ms, and the server builds every graph asked for (~0.3 s
  // of its CPU, which it cannot take back when the page stops waiting).
  const SETTLE_MS = 350;

  let g = null; // the graph on screen, indexed (index())
  let loading = null; // the AbortController of the fetch on its way
  let loadingFor = null; // the step it asked for (null: the newest)
  let newest = null; // the newest step the stream has told of (null: unknown)
  let pendingParam = null; // a parameter chosen in the Parameters panel before a graph came
  const expanded = new Set(); // group indexes
  let selected = null; // a node id
  let path = null; // {nodes: Uint8Array, groups: Set, pairs: Set} of the selected node
  let bp = { mode: "idle", t0: 0, t: 0, raf: 0 }; // the backward animation
  let els = null; // what render() drew: {boxes: Map, nodes: Map, links: [], edges: []}
  let lastWidth = 0; // the width it was drawn for
  let settle = 0; // the timer of a view change waiting to hold

  // ---------- numbers ----------

  function fmt(x) {
    if (x === 0) return "0";
    if (!Number.isFinite(x)) return String(x);
    const a = Math.abs(x);
    const s = a < 1e-3 || a >= 1e4 ? x.toExponential(2) : x.toPrecision(3);
    return s.replace(/-/g, "−");
  }

  // Two significant digits: ranges in a box's narrow lines.
  function fmt2(x) {
    if (x === 0) return "0";
    const a = Math.abs(x);
    const s = a < 1e-3 || a >= 1e4 ? x.toExponential(1) : x.toPrecision(2);
    return s.replace(/-/g, "−");
  }

  function fmtLong(x) {
    if (x === 0) return "0";
    const a = Math.abs(x);
    return (a < 1e-3 || a >= 1e5 ? x.toExponential(5) : x.toPrecision(6)).replace(/-/g, "−");
  }

  const count = (n) => n.toLocaleString("en-US");

  // ---------- the step on screen ----------

  // The past step the page views, or null: live (the newest).
  function viewStep() {
    const v = document.documentElement.dataset.view ?? document.getElementById("view-step")?.value;
    return v === undefined || v === "" ? null : Number(v);
  }

  async function load(step) {
    loading?.abort();
    const ctl = new AbortController();
    loading = ctl;
    loadingFor = step;
    stopPlay();
    say(step === null ? "Loading the newest step’s graph…" : `Loading step ${count(step)}’s graph…`);
    try {
      const resp = await fetch(step === null ? `${API}/graph` : `${API}/graph?step=${step}`, {
        signal: ctl.signal,
      });
      if (!resp.ok) {
        const body = await resp.json().catch(() => ({}));
        if (ctl === loading) failed(resp.status, body.detail);
        return;
      }
      const sent = Number(resp.headers.get("content-length")) || 0;
      const raw = await resp.json();
      if (ctl !== loading) return;
      shown(index(raw), step, sent);
    } catch (e) {
      if (e.name !== "AbortError" && ctl === loading) {
        failed(0, "The server did not answer; close and open the card to try again.");
      }
    } finally {
      if (loading === ctl) loading = null;
    }
  }

  function shown(next, asked, sent) {
    // the same groups stay open, and the same parameter selected, from one step to another
    const open = g ? [...expanded].map((i) => g.groups[i].name) : [];
    const param = g && selected !== null ? g.label[selected] : null;
    g = next;
    g.asked = asked;
    g.sent = sent;
    newest = Math.max(newest ?? 0, g.step);
    expanded.clear();
    const byName = new Map(g.groups.map((gr) => [gr.name, gr.i]));
    for (const name of open) if (byName.has(name)) expanded.add(byName.get(name));
    selected = null;
    path = null;
    if (param && !pendingParam) pendingParam = param;
    bp = { mode: "idle", t0: 0, t: 0, raf: 0 };
    view.hidden = false;
    for (const el of tools) el.disabled = false;
    stopBtn.disabled = true;
    paramList.replaceChildren(...[...g.params.keys()].map((name) => new Option(name)));
    stepLine.dataset.step = String(g.step);
    stepLine.textContent =
      `step ${count(g.step)} · learned “${g.doc}” · loss ${fmtLong(g.value[g.loss])} · ` +
      `${count(g.n)} scalar nodes, ${count(g.m)} edges` +
      (sent ? ` (${(sent / 2 ** 20).toFixed(1)} MB sent)` : "");
    summary.textContent = describeGraph();
    say("");
    bpLine.textContent = "";
    paramMsg.textContent = "";
    render();
    inspect();
    offerNewest();
    applyPending();
  }

  function applyPending() {
    if (!g || !pendingParam) return;
    const name = pendingParam;
    pendingParam = null;
    paramInput.value = name;
    pickParam(name);
  }

  function failed(status, detail) {
    g = null;
    els = null;
    view.hidden = true;
    view.replaceChildren();
    inspect();
    for (const el of tools) el.disabled = true;
    stepLine.textContent = "";
    delete stepLine.dataset.step;
    say(status === 409 ? "Train a step to see its graph." : detail || `Error ${status}.`, status);
    offerNewest();
  }

  function say(text, status = null) {
    msg.textContent = text;
    if (status === null) delete msg.dataset.status;
    else msg.dataset.status = String(status);
  }

  // Live, with a graph older than the newest step (or none): offer the newest, never fetch it
  // unasked: a page that follows training would otherwise build a graph every step.
  function offerNewest() {
    const behind = newest !== null && (g === null ? msg.dataset.status === "409" : newest > g.step);
    const live = viewStep() === null && (g === null || g.asked === null);
    const offer = details.open && live && behind && newest > 0;
    newestBtn.hidden = !offer;
    if (offer) newestBtn.textContent = `Show the newest step (${count(newest)})`;
  }

  // Opened, or the view changed while open: fetch what the page shows unless it is on screen
  // (or on its way). Live, a graph of an older step is replaced on opening, not while open.
  function sync(want = viewStep()) {
    if (!details.open) return;
    const onScreen =
      want === null
        ? g !== null && g.asked === null && !(newest > g.step)
        : g !== null && g.step === want;
    const coming = loading !== null && loadingFor === want;
    if (!coming && (!onScreen || loading)) load(want);
    offerNewest();
  }

  // ---------- the graph, indexed ----------

  function index(raw) {
    const n = raw.nodes.length;
    const m = raw.edges.length;
    const G = {
      step: raw.step,
      doc: raw.doc,
      loss: raw.loss,
      n,
      m,
      op: new Array(n),
      value: new Float64Array(n),
      grad: new Float64Array(n),
      group: new Int32Array(n),
      label: new Array(n).fill(null),
      params: new Map(), // "wte[3][5]" -> node id
      groups: [],
      child: new Int32Array(m),
      parent: new Int32Array(m),
      local: new Float64Array(m),
    };
    const byName = new Map();
    for (const nd of raw.nodes) {
      let gi = byName.get(nd.group);
      if (gi === undefined) {
        gi = G.groups.length;
        byName.set(nd.group, gi);
        G.groups.push({ i: gi, name: nd.group, nodes: [], ...parseGroup(nd.group) });
      }
      G.groups[gi].nodes.push(nd.id);
      G.op[nd.id] = nd.op;
      G.value[nd.id] = nd.data;
      G.grad[nd.id] = nd.grad;
      G.group[nd.id] = gi;
      if (nd.param !== null) {
        G.label[nd.id] = nd.param;
        G.params.set(nd.param, nd.id);
      }
    }
    raw.edges.forEach((e, k) => {
      G.child[k] = e.child;
      G.parent[k] = e.parent;
      G.local[k] = e.local;
    });
    G.up = csr(n, G.child); // a node's consumers: the edges where it is the child
    G.down = csr(n, G.parent); // a node's inputs: the edges where it is the parent
    for (const gr of G.groups) gr.nodes.sort((a, b) => a - b);
    G.tokens = [null, ...Array.from(raw.doc), null]; // null: BOS
    G.pairs = pairsOf(G);
    groupFacts(G);
    levels(G);
    return G;
  }

  // Compressed rows: for node k, edges[start[k] .. start[k+1]) are the edges whose key is k.
  function csr(n, key) {
    const start = new Int32Array(n + 1);
    for (const k of key) start[k + 1]++;
    for (let i = 0; i < n; i++) start[i + 1] += start[i];
    const fill = start.slice(0, n);
    const edges = new Int32Array(key.length);
    key.forEach((k, e) => {
      edges[fill[k]++] = e;
    });
    return { start, edges };
  }

  function parseGroup(name) {
    if (name === "loss") return { kind: "mean", col: "mean" };
    let m = name.match(/^params\/(.+)$/);
    if (m) return { kind: "param", col: "params", matrix: m[1] };
    m = name.match(/^pos(\d+)\/(.+)$/);
    if (!m) return { kind: "other", col: "other" };
    const pos = Number(m[1]);
    const rest = m[2];
    if (rest === "embed" || rest === "logits") return { kind: rest, col: rest, pos };
    if (rest === "loss") return { kind: "xent", col: "xent", pos };
    m = rest.match(/^layer(\d+)\/(?:attn\/(qkv|out|head(\d+))|(mlp))$/);
    if (!m) return { kind: "other", col: "other", pos };
    const layer = Number(m[1]);
    if (m[3] !== undefined) return { kind: "head", col: `L${layer}/heads`, pos, layer, head: Number(m[3]) };
    const kind = m[4] || m[2];
    return { kind, col: `L${layer}/${kind}`, pos, layer };
  }

  // Edges between groups, bundled: "a>b" -> {a, b, count} (a the child's group).
  function pairsOf(G) {
    const pairs = new Map();
    for (let e = 0; e < G.m; e++) {
      const a = G.group[G.child[e]];
      const b = G.group[G.parent[e]];
      if (a === b) continue;
      const key = `${a}>${b}`;
      const p = pairs.get(key);
      if (p) p.count++;
      else pairs.set(key, { key, a, b, count: 1 });
    }
    return pairs;
  }

  // Per group: its outputs (nodes read by another group, or the loss) and how many values
  // from other groups it reads.
  function groupFacts(G) {
    const seen = new Int32Array(G.n).fill(-1);
    for (const gr of G.groups) {
      gr.outputs = [];
      gr.inputs = 0; // values read from other groups' nodes
      gr.weights = 0; // parameters read
      for (const id of gr.nodes) {
        let out = id === G.loss;
        for (let k = G.up.start[id]; k < G.up.start[id + 1]; k++) {
          if (G.group[G.parent[G.up.edges[k]]] !== gr.i) out = true;
        }
        if (out) gr.outputs.push(id);
        for (let k = G.down.start[id]; k < G.down.start[id + 1]; k++) {
          const c = G.child[G.down.edges[k]];
          if (G.group[c] !== gr.i && seen[c] !== gr.i) {
            seen[c] = gr.i;
            if (G.op[c] === "param") gr.weights++;
            else gr.inputs++;
          }
        }
      }
    }
  }

  // A group's level: its longest distance from the loss in the graph of groups. Backward can
  // finish a group once every group that reads it is done, so a wave per level is a reverse
  // topological order (all positions' −log p at once, then all logits, …, the parameters).
  function levels(G) {
    const readers = G.groups.map(() => []);
    for (const p of G.pairs.values()) readers[p.a].push(p.b);
    const last = (gr) => gr.nodes[gr.nodes.length - 1];
    const order = [...G.groups].sort((x, y) => last(y) - last(x)); // ids are topological
    for (const gr of order) {
      gr.level = 0;
      for (const b of readers[gr.i]) gr.level = Math.max(gr.level, G.groups[b].level + 1);
    }
    G.levels = Math.max(...G.groups.map((gr) => gr.level)) + 1;
  }

  // ---------- words for a group ----------

  function tok(G, i) {
    const t = G.tokens[i];
    return t === null || t === undefined ? "⏎" : t;
  }

  function range(ids) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const id of ids) {
      lo = Math.min(lo, g.value[id]);
      hi = Math.max(hi, g.value[id]);
    }
    return `${fmt2(lo)}…${fmt2(hi)}`;
  }

  function gradOf(gr) {
    if (gr.outputs.length === 1) return `∂ ${fmt(g.grad[gr.outputs[0]])}`;
    let s = 0;
    for (const id of gr.outputs) s += g.grad[id] ** 2;
    return `‖∂‖ ${fmt(Math.sqrt(s))}`;
  }

  const STAGE = {
    embed: "embed",
    qkv: "q k v",
    head: "head",
    out: "attn out",
    mlp: "MLP",
    logits: "logits",
    xent: "−log p",
    mean: "loss",
    param: "",
    other: "",
  };

  function where(gr) {
    if (gr.kind === "param") return `parameters ${gr.matrix}`;
    if (gr.kind === "mean") return "the loss (mean over positions)";
    if (gr.pos === undefined) return gr.name;
    const layer = gr.layer === undefined ? "" : ` layer ${gr.layer}`;
    const what = gr.kind === "head" ? `attention head ${gr.head}` : STAGE[gr.kind] || gr.name;
    return `position ${gr.pos}${layer}, ${what}`;
  }

  // {title, lines, grad, weights?} of a collapsed group: its name and size, its input and
  // output values in the terms of its stage, and the gradient of its outputs.
  function describe(gr) {
    const n = gr.nodes.length;
    const d = { title: STAGE[gr.kind] || gr.name, count: count(n), lines: [], grad: gradOf(gr) };
    const outs = gr.outputs;
    switch (gr.kind) {
      case "param": {
        const readers = new Map();
        for (const p of g.pairs.values()) {
          if (p.a !== gr.i) continue;
          const k = STAGE[g.groups[p.b].kind];
          readers.set(k, (readers.get(k) || 0) + 1);
        }
        d.title = shortMatrix(gr.matrix);
        d.count = `${count(n)} used`;
        d.lines = [
          `→ ${[...readers].map(([k, c]) => `${k} ×${c}`).join(", ")}`,
          `values ${range(gr.nodes)}`,
        ];
        break;
      }
      case "embed":
        d.lines = [`‘${tok(g, gr.pos)}’ + pos ${gr.pos}`, `x ${range(outs)}`];
        break;
      case "head": {
        const w = gr.nodes.filter((id) => g.op[id] === "softmax");
        let top = 0;
        w.forEach((id, q) => {
          if (g.value[id] > g.value[w[top]]) top = q;
        });
        d.title = `h${gr.head}`;
        d.weights = w.map((id) => g.value[id]);
        d.top = w.length ? { w: g.value[w[top]], on: tok(g, top) } : null;
        d.lines = [d.top ? `largest weight ${fmt(d.top.w)} on ‘${d.top.on}’` : ""];
        break;
      }
      case "xent": {
        const v = g.value[outs[0]];
        d.lines = [`p(‘${tok(g, gr.pos + 1)}’) ${fmt(Math.exp(-v))}`, `−log p ${fmt(v)}`];
        break;
      }
      case "logits": {
        const target = targetLogit(gr);
        d.lines = [
          `${outs.length} scores`,
          target === null ? range(outs) : `‘${tok(g, gr.pos + 1)}’ ${fmt(g.value[target])}`,
        ];
        break;
      }
      case "mean": {
        const xents = g.groups.filter((x) => x.kind === "xent").length;
        d.lines = [`mean of ${xents}`, `= ${fmt(g.value[g.loss])}`];
        break;
      }
      case "mlp": {
        const hidden = gr.nodes.filter((id) => g.op[id] === "relu²").length;
        d.lines = [`${hidden} hidden`, range(outs)];
        break;
      }
      default:
        d.lines = [`${gr.inputs} → ${outs.length} out`, range(outs)];
    }
    return d;
  }

  // The logit of the target: the xent's input whose local gradient p − 1 is negative.
  function targetLogit(gr) {
    const xent = g.groups.find((x) => x.kind === "xent" && x.pos === gr.pos);
    if (!xent) return null;
    const id = xent.nodes[0];
    for (let k = g.down.start[id]; k < g.down.start[id + 1]; k++) {
      const e = g.down.edges[k];
      if (g.local[e] < 0) return g.child[e];
    }
    return null;
  }

  // "layer0.attn_wq" is "attn_wq" in a one-layer model, "L1 attn_wq" in a deeper one.
  function shortMatrix(name) {
    const layers = new Set(g.groups.filter((x) => x.layer !== undefined).map((x) => x.layer));
    return name.replace(/^layer(\d+)\./, layers.size > 1 ? "L$1 " : "");
  }

  function ariaOf(gr, d) {
    const weights = d.weights ? `; attention weights ${d.weights.map(fmt).join(", ")}` : "";
    const action = expanded.has(gr.i) ? "collapse" : "show its nodes";
    return (
      `${where(gr)}: ${count(gr.nodes.length)} nodes; ${d.lines.filter(Boolean).join("; ")}` +
      `${weights}; gradient ${d.grad}. Press to ${action}.`
    );
  }

  function describeGraph() {
    const lanes = new Set(g.groups.filter((x) => x.pos !== undefined).map((x) => x.pos)).size;
    const mats = g.groups.filter((x) => x.kind === "param");
    const heads = new Set(g.groups.filter((x) => x.kind === "head").map((x) => x.head)).size;
    return (
      `Step ${g.step} learned “${g.doc}”, one position per character: ${lanes} lanes. ` +
      `On the left, the ${mats.length} parameter matrices (${count(g.params.size)} numbers used) ` +
      `feed each position’s embedding, q k v, ${heads} attention heads, attn out, MLP and logits; ` +
      `each position’s −log p of the right next character is averaged into the loss ` +
      `${fmtLong(g.value[g.loss])} on the right. Later positions read earlier positions’ keys ` +
      `and values. Each box is a group of scalar nodes; press one to list its nodes, press a node ` +
      `for the chain rule at it.`
    );
  }

  // ---------- layout (the drawing) ----------

  const PAD = 8;
  const HEADER = 26;
  const LABEL = 17;
  const BOX_H = 80;
  const LANE_GAP = 12;
  const PARAM_H = 70;
  const NODE_W = 108;
  const NODE_H = 34;
  const NODE_GAP = 16;

  function columns(width) {
    const keys = new Set(g.groups.map((x) => x.col));
    const layers = [...new Set(g.groups.filter((x) => x.layer !== undefined).map((x) => x.layer))];
    layers.sort((a, b) => a - b);
    const order = ["params", "embed"];
    for (const l of layers) order.push(`L${l}/qkv`, `L${l}/heads`, `L${l}/out`, `L${l}/mlp`);
    order.push("logits", "xent", "other", "mean");
    const cols = order.filter((k) => keys.has(k));
    const w = (k) => (k === "params" ? 140 : k.endsWith("heads") ? 180 : 96);
    const widths = cols.reduce((s, k) => s + w(k), 0);
    const gap = Math.max(20, Math.min(60, (width - 2 * PAD - widths) / (cols.length - 1)));
    const at = new Map();
    let x = PAD;
    cols.forEach((k, i) => {
      at.set(k, { x, w: w(k), i });
      x += w(k) + gap;
    });
    return { at, gap, width: x - gap + PAD, titles: cols };
  }

  // Where every box, lane and band goes. Bands (expanded groups) sit under their lane, those
  // of the parameters and the loss under everything; a band pushes the lanes below it down.
  function layout(width) {
    const cols = columns(width);
    const L = { cols, boxes: new Map(), lanes: [], bands: [], width: cols.width };
    const lanePos = [...new Set(g.groups.filter((x) => x.pos !== undefined).map((x) => x.pos))];
    lanePos.sort((a, b) => a - b);
    const stage = stageSpan(cols);
    let y = HEADER;
    for (const p of lanePos) {
      const lane = { pos: p, y, h: LABEL + BOX_H };
      L.lanes.push(lane);
      for (const gr of g.groups.filter((x) => x.pos === p)) placeInLane(L, gr, lane);
      y += lane.h + LANE_GAP;
      for (const gr of g.groups.filter((x) => x.pos === p && expanded.has(x.i))) {
        y = band(L, gr, stage, y) + LANE_GAP;
      }
    }
    const mats = g.groups.filter((x) => x.pos === undefined && x.kind !== "mean");
    const side = cols.at.get("params") || cols.at.get("other");
    mats.forEach((gr, i) => {
      const c = cols.at.get(gr.col) || side;
      L.boxes.set(gr.i, { x: c.x, y: HEADER + i * (PARAM_H + 10), w: c.w, h: PARAM_H });
    });
    const lanesEnd = L.lanes.length ? L.lanes[L.lanes.length - 1].y + LABEL + BOX_H : HEADER;
    const mean = g.groups.find((x) => x.kind === "mean");
    if (mean) {
      const c = cols.at.get("mean");
      const mid = (HEADER + LABEL + lanesEnd) / 2;
      L.boxes.set(mean.i, { x: c.x, y: mid - BOX_H / 2, w: c.w, h: BOX_H });
    }
    y = Math.max(y, HEADER + mats.length * (PARAM_H + 10)) + 4;
    for (const gr of g.groups.filter((x) => x.pos === undefined && expanded.has(x.i))) {
      y = band(L, gr, { x0: PAD, x1: L.width - PAD }, y) + LANE_GAP;
    }
    L.height = y + PAD;
    return L;
  }

  // The lanes' horizontal extent: from the first stage column to the last before the loss.
  function stageSpan(cols) {
    const inLane = [...cols.at].filter(([k]) => k !== "params" && k !== "mean" && k !== "other");
    const first = inLane[0][1];
    const last = inLane[inLane.length - 1][1];
    return { x0: first.x - 6, x1: last.x + last.w + 6 };
  }

  function placeInLane(L, gr, lane) {
    const c = L.cols.at.get(gr.col);
    if (!c) return;
    const top = lane.y + LABEL;
    if (gr.kind !== "head") {
      L.boxes.set(gr.i, { x: c.x, y: top, w: c.w, h: BOX_H });
      return;
    }
    const heads = g.groups.filter((x) => x.kind === "head" && x.pos === gr.pos && x.layer === gr.layer);
    const hh = (BOX_H - 3 * (heads.length - 1)) / heads.length;
    const k = heads.indexOf(gr);
    L.boxes.set(gr.i, { x: c.x, y: top + k * (hh + 3), w: c.w, h: hh });
  }

  // The nodes a band shows: all of a small group, else its first FIRST and the selected one.
  function shownNodes(gr) {
    if (gr.nodes.length <= SMALL) return gr.nodes;
    const first = gr.nodes.slice(0, FIRST);
    if (selected !== null && g.group[selected] === gr.i && !first.includes(selected)) {
      first.push(selected);
    }
    return first;
  }

  // Depth inside the group: 0 for a node that reads only other groups, else one more than
  // its deepest input in the group. Columns go left to right by depth; a tall depth wraps
  // into several columns, and short depths in a row share one, top to bottom (rmsnorm's
  // dot → * → + → pow); the fewest rows whose columns fit the band's width.
  function band(L, gr, span, y) {
    const nodes = shownNodes(gr);
    const depth = new Map();
    for (const id of gr.nodes) {
      let d = 0;
      for (let k = g.down.start[id]; k < g.down.start[id + 1]; k++) {
        const c = g.child[g.down.edges[k]];
        if (depth.has(c)) d = Math.max(d, depth.get(c) + 1);
      }
      depth.set(id, d);
    }
    const byDepth = new Map();
    for (const id of nodes) {
      const d = depth.get(id);
      if (!byDepth.has(d)) byDepth.set(d, []);
      byDepth.get(d).push(id);
    }
    const stacks = [...byDepth].sort((a, b) => a[0] - b[0]).map(([, ids]) => ids);
    const maxCols = Math.max(1, Math.floor((span.x1 - span.x0 - 16 + NODE_GAP) / (NODE_W + NODE_GAP)));
    const tallest = Math.max(...stacks.map((ids) => ids.length));
    let rows = Math.min(4, tallest);
    while (rows < tallest && placeNodes(stacks, rows).cols > maxCols) rows++;
    const { cells, cols } = placeNodes(stacks, rows);
    const at = new Map();
    const top = y + 26;
    for (const [id, [c, r]] of cells) {
      at.set(id, { x: span.x0 + 8 + c * (NODE_W + NODE_GAP), y: top + r * (NODE_H + 6) });
    }
    const more = gr.nodes.length - nodes.length;
    const foot = more > 0 || bandEdges(at).length > EDGE_LIMIT; // a line of notes under it
    const h = 26 + rows * (NODE_H + 6) + (foot ? 18 : 4);
    // more depths than columns fit: the band (and the drawing) grows wider and scrolls
    const w = Math.max(span.x1 - span.x0, 16 + cols * (NODE_W + NODE_GAP) - NODE_GAP);
    L.bands.push({ gr, x: span.x0, y, w, h, at, more });
    L.width = Math.max(L.width, span.x0 + w + PAD);
    return y + h;
  }

  // Node id -> [column, row] for depth stacks in `rows` rows: a stack taller than the rows
  // wraps over whole columns of its own; shorter ones share a column while they fit.
  function placeNodes(stacks, rows) {
    const cells = new Map();
    let col = -1;
    let fill = rows; // the current column's rows in use (full: the next stack starts a column)
    for (const ids of stacks) {
      if (ids.length < rows && fill + ids.length <= rows) {
        ids.forEach((id, k) => cells.set(id, [col, fill + k]));
        fill += ids.length;
        continue;
      }
      ids.forEach((id, k) => cells.set(id, [col + 1 + Math.floor(k / rows), k % rows]));
      col += Math.ceil(ids.length / rows);
      fill = ids.length < rows ? ids.length : rows; // a wrapped stack's columns are its own
    }
    return { cells, cols: col + 1 };
  }

  // ---------- drawing ----------

  function s(tag, attrs, parent, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    if (parent) parent.append(el);
    return el;
  }

  function fit(text, width, px = 6.1) {
    const max = Math.max(3, Math.floor(width / px));
    return text.length > max ? `${text.slice(0, max - 1)}…` : text;
  }

  function render() {
    if (!g) return;
    const keep = focusKey();
    const width = view.clientWidth || card.clientWidth || 1200;
    lastWidth = width;
    els = { boxes: new Map(), nodes: new Map(), links: [], edges: [] };
    if (width < NARROW) renderList();
    else renderSvg(width);
    view.dataset.mode = width < NARROW ? "list" : "svg";
    applyAll();
    restoreFocus(keep);
  }

  function renderSvg(width) {
    const L = layout(width);
    const svg = s("svg", {
      width: L.width,
      height: L.height,
      viewBox: `0 0 ${L.width} ${L.height}`,
      role: "group",
      "aria-labelledby": "h-graph",
      "aria-describedby": "graph-summary",
      class: "graph-svg",
    });
    drawFrame(svg, L);
    const links = s("g", { class: "links" }, svg);
    drawLinks(links, L);
    const boxes = s("g", { class: "boxes" }, svg);
    for (const gr of g.groups) if (L.boxes.has(gr.i)) drawBox(boxes, gr, L.boxes.get(gr.i));
    for (const b of L.bands) drawBand(svg, b);
    view.replaceChildren(svg);
  }

  const COL_TITLE = {
    params: "parameters (used)",
    embed: "embed",
    logits: "logits",
    xent: "−log p",
    mean: "mean loss",
    other: "other",
  };

  function drawFrame(svg, L) {
    const span = stageSpan(L.cols);
    const multi = new Set(g.groups.filter((x) => x.layer !== undefined).map((x) => x.layer)).size > 1;
    for (const [k, c] of L.cols.at) {
      const [, layer, stage] = k.match(/^L(\d+)\/(.+)$/) || [];
      let title = COL_TITLE[k];
      if (stage) title = { qkv: "q k v", heads: "attention heads", out: "attn out", mlp: "MLP" }[stage];
      if (stage && multi) title += ` (layer ${layer})`;
      s("text", { x: c.x + 2, y: 16, class: "col-title" }, svg, fit(title, c.w + 20));
    }
    for (const lane of L.lanes) {
      s("rect", { x: span.x0, y: lane.y, width: span.x1 - span.x0, height: lane.h + 4, rx: 9, class: "lane" }, svg);
      const label = `pos ${lane.pos} · reads ‘${tok(g, lane.pos)}’ → ‘${tok(g, lane.pos + 1)}’`;
      s("text", { x: span.x0 + 6, y: lane.y + 12, class: "lane-title" }, svg, label);
    }
  }

  // One line per pair of groups, with its count; within a lane a line to the next column, an
  // arc over the top when it skips columns (the residual stream); keys and values read by a
  // later position run down a bus between q k v and the heads, one line per pair of positions;
  // a parameter matrix's lines show only while it is pointed at or on a selected path.
  function drawLinks(parent, L) {
    const bus = new Map();
    for (const p of g.pairs.values()) {
      const A = g.groups[p.a];
      const B = g.groups[p.b];
      const a = L.boxes.get(p.a);
      const b = L.boxes.get(p.b);
      if (!a || !b) continue;
      if (A.kind === "param") {
        link(parent, [p], curve(a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2), "param", A, B);
      } else if (A.pos !== undefined && B.pos !== undefined && A.pos !== B.pos) {
        const key = `${p.a}>${B.pos}`; // bundled over the heads
        if (!bus.has(key)) bus.set(key, { pairs: [], A, B, a, b });
        bus.get(key).pairs.push(p);
      } else if (A.pos !== undefined && B.pos !== undefined) {
        const skip = L.cols.at.get(B.col).i - L.cols.at.get(A.col).i > 1;
        const d = skip ? arc(a, b) : curve(a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2);
        const fan = A.kind === "head" || B.kind === "head";
        link(parent, [p], d, skip ? "skip" : fan ? "fan" : "lane", A, B, !fan);
      } else {
        link(parent, [p], curve(a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2), "lane", A, B);
      }
    }
    for (const { pairs, A, B, a } of bus.values()) {
      const heads = pairs.map((p) => L.boxes.get(p.b));
      const top = Math.min(...heads.map((h) => h.y));
      const bottom = Math.max(...heads.map((h) => h.y + h.h));
      const x1 = a.x + a.w;
      const xb = x1 + 5 + 3 * (A.pos % 5);
      const y2 = (top + bottom) / 2 + 4 * (A.pos % 3) - 4;
      const d = `M${x1},${a.y + a.h / 2 + 10}H${xb}V${y2}H${heads[0].x}`;
      link(parent, pairs, { d, mid: null }, "bus", A, B);
    }
  }

  // A path and its midpoint (where its count goes): a cubic's point at t = ½ is
  // (P0 + 3·P1 + 3·P2 + P3) / 8.
  function curve(x1, y1, x2, y2) {
    const dx = Math.max(12, (x2 - x1) / 2);
    const d = `M${x1},${y1}C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
    return { d, mid: { x: (x1 + x2) / 2, y: (y1 + y2) / 2 } };
  }

  function arc(a, b) {
    const [x1, y1, x2, y2] = [a.x + a.w, a.y + 12, b.x, b.y + 12];
    const top = Math.min(a.y, b.y) - 12;
    const d = `M${x1},${y1}C${x1 + 40},${top} ${x2 - 40},${top} ${x2},${y2}`;
    return { d, mid: { x: (x1 + x2) / 2, y: (y1 + 6 * top + y2) / 8 } };
  }

  function link(parent, pairs, { d, mid }, kind, A, B, labelled = true) {
    const total = pairs.reduce((n, p) => n + p.count, 0);
    const el = s("g", { class: `glink ${kind}`, "data-from": A.i }, parent);
    const what = kind === "bus" ? `the heads of position ${B.pos}` : where(B);
    s("title", {}, el, `${where(A)} → ${what}: ${count(total)} edge${total === 1 ? "" : "s"}`);
    s("path", { d }, el);
    if (labelled && mid && total > 1 && kind !== "param") {
      s("text", { x: mid.x, y: mid.y - 3, class: "count" }, el, `×${count(total)}`);
    }
    els.links.push({ el, pairs, from: A.i });
  }

  function drawBox(parent, gr, r) {
    const d = describe(gr);
    const open = expanded.has(gr.i);
    const el = s("g", {
      class: `gbox k-${gr.kind}`,
      "data-group": gr.i,
      "data-name": gr.name,
      role: "button",
      tabindex: 0,
      "aria-expanded": open,
      "aria-label": ariaOf(gr, d),
    }, parent);
    s("title", {}, el, `${gr.name}\n${d.lines.join("\n")}\n${d.grad}`);
    s("rect", { x: r.x, y: r.y, width: r.w, height: r.h, rx: gr.kind === "head" ? 5 : 8, class: "frame" }, el);
    if (gr.kind === "head") return headRow(el, gr, d, r);
    const tail = `${d.count} ${open ? "▾" : "▸"}`;
    s("text", { x: r.x + 7, y: r.y + 16, class: "t1" }, el, fit(d.title, r.w - 18 - 6 * tail.length, 6.6));
    s("text", { x: r.x + r.w - 7, y: r.y + 16, class: "mark", "text-anchor": "end" }, el, tail);
    const step = (r.h - 30) / 3;
    d.lines.forEach((line, k) => {
      s("text", { x: r.x + 7, y: r.y + 16 + step * (k + 1), class: "t2" }, el, fit(line, r.w - 12));
    });
    s("text", { x: r.x + 7, y: r.y + r.h - 9, class: "gl" }, el, fit(d.grad, r.w - 12));
    els.boxes.set(gr.i, el);
  }

  // A head in one row: its name, its attention weights as bars (one per position it reads),
  // the largest weight, and its output gradient.
  function headRow(el, gr, d, r) {
    const mid = r.y + r.h / 2 + 4;
    s("text", { x: r.x + 6, y: mid, class: "t1" }, el, d.title);
    const w = d.weights;
    const bar = Math.min(7, 48 / Math.max(1, w.length));
    w.forEach((v, q) => {
      const h = Math.max(1, v * (r.h - 5));
      s("rect", { x: r.x + 24 + q * bar, y: r.y + r.h - 2.5 - h, width: bar - 1.5, height: h, class: "wbar" }, el);
    });
    if (d.top) s("text", { x: r.x + 76, y: mid, class: "t2" }, el, d.top.w.toFixed(2));
    s("text", { x: r.x + r.w - 6, y: mid, class: "gl", "text-anchor": "end" }, el, d.grad);
    els.boxes.set(gr.i, el);
  }

  function drawBand(svg, b) {
    const el = s("g", { class: "band", "data-band": b.gr.i, "data-name": b.gr.name }, svg);
    s("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx: 9, class: "band-bg" }, el);
    const shown = b.at.size;
    const title =
      `${b.gr.name}: ${count(b.gr.nodes.length)} nodes` +
      (b.more > 0 ? `, the first ${shown}` : "") +
      " · left to right by depth · press a node for the chain rule";
    s("text", { x: b.x + 10, y: b.y + 17, class: "band-title" }, el, title);
    const edges = s("g", { class: "band-edges" }, el);
    const inBand = bandEdges(b.at);
    const all = inBand.length <= EDGE_LIMIT;
    for (const e of inBand) {
      const c = b.at.get(g.child[e]);
      const p = b.at.get(g.parent[e]);
      // packed in one column (a chain of short depths): straight down, else left to right
      const d =
        c.x === p.x
          ? `M${c.x + NODE_W / 2},${c.y + NODE_H}V${p.y}`
          : curve(c.x + NODE_W, c.y + NODE_H / 2, p.x, p.y + NODE_H / 2).d;
      const line = s("path", { d }, edges);
      if (!all) line.classList.add("if-selected");
      els.edges.push({ el: line, e });
    }
    for (const [id, at] of b.at) drawNode(el, id, at);
    if (b.more > 0) {
      s("text", { x: b.x + b.w - 10, y: b.y + b.h - 6, class: "more", "text-anchor": "end" }, el,
        `… ${count(b.more)} more (not drawn)`);
    }
    if (!all) {
      s("text", { x: b.x + 10, y: b.y + b.h - 6, class: "more" }, el,
        `${count(inBand.length)} edges among these: a node’s own are drawn when it is selected`);
    }
  }

  // The edges between the nodes a band shows.
  function bandEdges(at) {
    const out = [];
    for (const id of at.keys()) {
      for (let k = g.down.start[id]; k < g.down.start[id + 1]; k++) {
        const e = g.down.edges[k];
        if (at.has(g.child[e])) out.push(e);
      }
    }
    return out;
  }

  function nodeName(id) {
    const label = g.label[id];
    return label ? label.slice(label.indexOf("[")) : g.op[id];
  }

  function drawNode(parent, id, at) {
    const el = s("g", {
      class: "gnode",
      "data-node": id,
      "data-value": g.value[id],
      "data-grad": g.grad[id],
      role: "button",
      tabindex: 0,
      "aria-label": `${nodeLabel(id)}: value ${fmtLong(g.value[id])}, gradient ${fmtLong(g.grad[id])}. Press for the chain rule.`,
    }, parent);
    s("title", {}, el, `${nodeLabel(id)} (${g.groups[g.group[id]].name})`);
    s("rect", { x: at.x, y: at.y, width: NODE_W, height: NODE_H, rx: 5, class: "frame" }, el);
    s("text", { x: at.x + 6, y: at.y + 14, class: "op" }, el, fit(nodeName(id), 50));
    s("text", { x: at.x + NODE_W - 6, y: at.y + 14, class: "v", "text-anchor": "end" }, el, fmt(g.value[id]));
    s("text", { x: at.x + 6, y: at.y + 28, class: "gl" }, el, `∂ ${fmt(g.grad[id])}`);
    els.nodes.set(id, el);
  }

  function nodeLabel(id) {
    return g.label[id] ? `parameter ${g.label[id]}` : `${g.op[id]} node #${id}`;
  }

  // ---------- the narrow page: the lanes as lists ----------

  function renderList() {
    const root = document.createElement("div");
    root.className = "graph-list";
    const part = (title, groups) => {
      const sec = document.createElement("section");
      const h = document.createElement("h4");
      h.textContent = title;
      const ul = document.createElement("ul");
      for (const gr of groups) ul.append(listItem(gr));
      sec.append(h, ul);
      root.append(sec);
    };
    part("parameters (used)", g.groups.filter((x) => x.kind === "param" || x.kind === "other"));
    const lanes = [...new Set(g.groups.filter((x) => x.pos !== undefined).map((x) => x.pos))];
    for (const p of lanes.sort((a, b) => a - b)) {
      part(`position ${p} · reads ‘${tok(g, p)}’ → ‘${tok(g, p + 1)}’`, g.groups.filter((x) => x.pos === p));
    }
    part("the loss", g.groups.filter((x) => x.kind === "mean"));
    view.replaceChildren(root);
  }

  function listItem(gr) {
    const li = document.createElement("li");
    const d = describe(gr);
    const b = document.createElement("button");
    b.type = "button";
    b.className = `gbox k-${gr.kind}`;
    b.dataset.group = String(gr.i);
    b.dataset.name = gr.name;
    b.setAttribute("aria-expanded", String(expanded.has(gr.i)));
    const head = `${gr.kind === "head" ? `head ${gr.head}` : d.title} · ${d.count}`;
    const weights = d.weights ? `weights ${d.weights.map(fmt).join(" ")}` : "";
    for (const [cls, text] of [["t1", head], ["t2", [...d.lines, weights].filter(Boolean).join(" · ")], ["gl", d.grad]]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      b.append(span);
    }
    li.append(b);
    els.boxes.set(gr.i, b);
    if (!expanded.has(gr.i)) return li;
    const ol = document.createElement("ol");
    ol.className = "gnodes";
    for (const id of shownNodes(gr)) {
      const nb = document.createElement("button");
      nb.type = "button";
      nb.className = "gnode";
      nb.dataset.node = String(id);
      nb.dataset.value = String(g.value[id]);
      nb.dataset.grad = String(g.grad[id]);
      nb.textContent = `${nodeName(id)} ${fmt(g.value[id])} · ∂ ${fmt(g.grad[id])}`;
      const item = document.createElement("li");
      item.append(nb);
      ol.append(item);
      els.nodes.set(id, nb);
    }
    li.append(ol);
    const more = gr.nodes.length - shownNodes(gr).length;
    if (more > 0) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = `… ${count(more)} more`;
      li.append(p);
    }
    return li;
  }

  // ---------- focus across a redraw ----------

  function focusKey() {
    const el = document.activeElement;
    if (!el || !view.contains(el)) return null;
    if (el.dataset.node !== undefined) return `[data-node="${el.dataset.node}"]`;
    if (el.dataset.group !== undefined) return `[data-group="${el.dataset.group}"]`;
    return null;
  }

  function restoreFocus(key) {
    if (key) view.querySelector(key)?.focus({ preventScroll: true });
  }

  // ---------- states: the path, the selection, the backward wave ----------

  function applyAll() {
    applyPath();
    applyBackward();
  }

  function applyPath() {
    if (!els) return;
    view.classList.toggle("has-path", path !== null);
    for (const [gi, el] of els.boxes) {
      if (path) el.dataset.path = path.groups.has(gi) ? "on" : "off";
      else delete el.dataset.path;
    }
    for (const l of els.links) {
      const on = path !== null && l.pairs.some((p) => path.pairs.has(p.key));
      l.el.classList.toggle("on", on);
    }
    for (const [id, el] of els.nodes) {
      el.classList.toggle("sel", id === selected);
      if (path) el.dataset.path = path.nodes[id] ? "on" : "off";
      else delete el.dataset.path;
    }
    for (const { el, e } of els.edges) {
      const touches = selected !== null && (g.child[e] === selected || g.parent[e] === selected);
      el.classList.toggle("on", touches || (path !== null && path.nodes[g.child[e]] === 1));
      el.classList.toggle("near", touches);
    }
  }

  // Every node on a path from `id` to the loss: the nodes it reaches along the edges (their
  // ids only grow, so one pass in id order finds them), and the groups and bundles they use.
  function pathsFrom(id) {
    const nodes = new Uint8Array(g.n);
    nodes[id] = 1;
    const groups = new Set();
    const pairs = new Set();
    for (let i = id; i < g.n; i++) {
      if (!nodes[i]) continue;
      groups.add(g.group[i]);
      for (let k = g.up.start[i]; k < g.up.start[i + 1]; k++) {
        const p = g.parent[g.up.edges[k]];
        nodes[p] = 1;
        if (g.group[p] !== g.group[i]) pairs.add(`${g.group[i]}>${g.group[p]}`);
      }
    }
    return { nodes, groups, pairs };
  }

  // The wave each group is reached in, and inside an expanded group the nodes one by one
  // (newest first: a reverse topological order) over its wave.
  function applyBackward() {
    if (!els) return;
    const on = bp.mode !== "idle";
    view.classList.toggle("playing", bp.mode === "playing");
    const wave = bp.mode === "done" ? Infinity : bp.t / WAVE_MS;
    const k = Math.floor(wave);
    const state = (level) => (level < k ? "reached" : level === k ? "active" : "waiting");
    for (const [gi, el] of els.boxes) {
      if (on) el.dataset.bp = state(g.groups[gi].level);
      else delete el.dataset.bp;
    }
    for (const l of els.links) {
      if (on) l.el.dataset.bp = g.groups[l.from].level <= k ? "reached" : "waiting";
      else delete l.el.dataset.bp;
    }
    const reached = new Uint8Array(g.n);
    for (const [id, el] of els.nodes) {
      if (!on) {
        delete el.dataset.bp;
        continue;
      }
      const gr = g.groups[g.group[id]];
      let st = state(gr.level);
      if (st === "active") {
        const rank = gr.nodes.length - 1 - gr.nodes.indexOf(id); // newest first
        st = rank < (wave - k) * gr.nodes.length ? "reached" : "waiting";
      }
      el.dataset.bp = st;
      if (st === "reached") reached[id] = 1;
    }
    for (const { el, e } of els.edges) {
      if (on) el.dataset.bp = reached[g.child[e]] ? "reached" : "waiting";
      else delete el.dataset.bp;
    }
    if (on) bpLine.textContent = waveText(k);
  }

  function waveText(k) {
    if (bp.mode === "done" || k >= g.levels) {
      return "Backward done: every node has its gradient, the parameters last.";
    }
    const names = [...new Set(g.groups.filter((x) => x.level === k).map((x) => where(x).replace(/^position \d+,? ?/, "")))];
    const head = bp.mode === "stopped" ? "Stopped at" : "Backward";
    return `${head} ${k + 1} of ${g.levels}: the gradient reaches ${names.slice(0, 3).join("; ")}${names.length > 3 ? "; …" : ""}`;
  }

  function reducedMotion() {
    return window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  function play() {
    if (!g) return;
    stopPlay();
    if (reducedMotion()) return skip();
    bp = { mode: "playing", t0: performance.now(), t: 0, raf: 0 };
    stopBtn.disabled = false;
    announce.textContent = "Playing backward from the loss…";
    tick(bp.t0);
  }

  function tick(now) {
    if (bp.mode !== "playing") return;
    bp.t = now - bp.t0;
    if (bp.t >= g.levels * WAVE_MS) return skip();
    applyBackward();
    bp.raf = requestAnimationFrame(tick);
  }

  function skip() {
    if (!g) return;
    cancelAnimationFrame(bp.raf);
    bp = { mode: "done", t0: 0, t: Infinity, raf: 0 };
    stopBtn.disabled = true;
    applyBackward();
    announce.textContent = "Backward done: every parameter has its gradient.";
  }

  function stop() {
    if (bp.mode !== "playing") return;
    cancelAnimationFrame(bp.raf);
    bp.mode = "stopped";
    stopBtn.disabled = true;
    applyBackward();
    announce.textContent = bpLine.textContent;
  }

  function stopPlay() {
    cancelAnimationFrame(bp.raf);
    if (bp.mode === "playing") bp.mode = "stopped";
    stopBtn.disabled = true;
  }

  // ---------- selecting: a group, a node, a parameter ----------

  function toggle(gi) {
    if (expanded.has(gi)) expanded.delete(gi);
    else expanded.add(gi);
    render();
  }

  function select(id, { reveal = false } = {}) {
    selected = id;
    path = id === null ? null : pathsFrom(id);
    if (reveal && id !== null) {
      const gi = g.group[id];
      if (!expanded.has(gi) && g.groups[gi].kind !== "param") expanded.add(gi);
      render();
      els.nodes.get(id)?.focus({ preventScroll: false });
    } else {
      render(); // a large group shows the selected node too
    }
    inspect();
  }

  function pickParam(text) {
    if (!g) return;
    const name = text.trim().replace(/\s+/g, "");
    let id = g.params.get(name);
    if (id === undefined && name) {
      const hits = [...g.params.keys()].filter((k) => k.endsWith(name));
      if (hits.length === 1) id = g.params.get(hits[0]);
    }
    if (id === undefined) {
      paramMsg.textContent = name
        ? `${name} is not in step ${g.step}’s graph: the step used ${count(g.params.size)} parameters ` +
          "(a row of wte or wpe for a character or position the name lacks is not used: its gradient is 0)."
        : "";
      return;
    }
    paramMsg.textContent = "";
    paramInput.value = g.label[id];
    select(id);
    // its matrix's box in sight (the chain rule docks at the window's bottom meanwhile)
    els?.boxes.get(g.group[id])?.scrollIntoView({ block: "center" });
  }

  // ---------- the chain rule at the selected node ----------

  function inspect() {
    if (!g || selected === null) {
      inspector.hidden = true;
      return;
    }
    const id = selected;
    const gr = g.groups[g.group[id]];
    inspector.hidden = false;
    inspector.dataset.node = String(id);
    const param = g.label[id];
    inspectTitle.textContent = param ? `From ${param} to the loss` : `The chain rule at ${g.op[id]} node #${id}`;
    const parts = [];
    parts.push(para(
      `${nodeLabel(id)} in ${gr.name} · value ${fmtLong(g.value[id])} · gradient `,
      code(fmtLong(g.grad[id]), "graph-node-grad", { grad: g.grad[id] }),
    ));
    if (id === g.loss) {
      parts.push(para("This is the loss: backward starts here, with d loss / d loss = 1."));
      inspectBody.replaceChildren(...parts);
      return;
    }
    const terms = [];
    for (let k = g.up.start[id]; k < g.up.start[id + 1]; k++) {
      const e = g.up.edges[k];
      terms.push({ e, p: g.parent[e], pg: g.grad[g.parent[e]], local: g.local[e] });
    }
    const total = terms.reduce((sum, t) => sum + t.pg * t.local, 0);
    const uses = `${terms.length} use${terms.length === 1 ? "" : "s"}`;
    parts.push(
      param
        ? para(
            `d loss / d ${param} = ${fmtLong(total)} = Σ over its ${uses}: each use’s node’s gradient × ` +
              "its local derivative. That is the sum over every path from it to the loss, grouped " +
              `by the path’s first edge; the ${path.groups.size} groups on those paths are lit in the drawing.`,
          )
        : para(
            `grad = Σ over its ${terms.length} consumer${terms.length === 1 ? "" : "s"} of ` +
              "(the consumer’s gradient × ∂consumer/∂this node, the edge’s local derivative):",
          ),
    );
    parts.push(termTable(terms, total), check(total, id));
    inspectBody.replaceChildren(...parts);
  }

  function para(...bits) {
    const p = document.createElement("p");
    p.append(...bits);
    return p;
  }

  function code(text, testid, data = {}) {
    const c = document.createElement("code");
    c.textContent = text;
    if (testid) c.dataset.testid = testid;
    for (const [k, v] of Object.entries(data)) c.dataset[k] = String(v);
    return c;
  }

  function termTable(terms, total) {
    const table = document.createElement("table");
    table.className = "terms";
    table.dataset.testid = "graph-terms";
    const row = (cells, tag = "td") => {
      const tr = document.createElement("tr");
      for (const c of cells) {
        const td = document.createElement(tag);
        td.append(c);
        tr.append(td);
      }
      return tr;
    };
    const head = document.createElement("thead");
    head.append(row(["consumer", "its gradient", "× local", "= term"], "th"));
    const body = document.createElement("tbody");
    for (const t of terms) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "to-node";
      b.dataset.goto = String(t.p);
      const where = document.createElement("span");
      where.className = "grp"; // hidden on a phone: the column stays narrow
      where.textContent = ` · ${g.groups[g.group[t.p]].name}`;
      b.title = `${g.op[t.p]} node #${t.p} in ${g.groups[g.group[t.p]].name}: select it`;
      b.append(`${g.op[t.p]} #${t.p}`, where);
      const term = t.pg * t.local;
      const tr = row([b, fmtLong(t.pg), fmtLong(t.local), fmtLong(term)]);
      tr.dataset.term = String(term);
      body.append(tr);
    }
    const foot = document.createElement("tfoot");
    foot.append(row(["Σ", "", "", code(fmtLong(total), "graph-total", { total })]));
    table.append(head, body, foot);
    return table;
  }

  // The sum against the gradient backward stored: equal but for rounding.
  function check(total, id) {
    const diff = Math.abs(total - g.grad[id]);
    const ok = diff <= 1e-9 * Math.max(1, Math.abs(g.grad[id]));
    const p = document.createElement("p");
    p.className = ok ? "ok" : "msg";
    p.dataset.testid = "graph-check";
    p.textContent = ok
      ? `✓ Σ = the node’s gradient ${fmtLong(g.grad[id])} (they differ by ${diff.toExponential(0)}, rounding)`
      : `✗ Σ is not the node’s gradient ${fmtLong(g.grad[id])}`;
    return p;
  }

  // ---------- wiring ----------

  details.addEventListener("toggle", () => {
    if (details.open) {
      sync();
      if (!loading) applyPending();
    } else {
      stopPlay();
    }
    offerNewest();
  });
  newestBtn.addEventListener("click", () => load(null));
  // the step on view changed ({step: k, or null for live}); static/timeline.js sends
  // `view-change` on document.body
  for (const name of ["view-change", "view-changed"]) {
    document.addEventListener(name, (evt) => {
      const step = evt.detail?.step;
      const want = step === undefined ? viewStep() : step === null ? null : Number(step);
      clearTimeout(settle);
      settle = setTimeout(() => sync(want), SETTLE_MS);
    });
  }
  document.addEventListener("point", (evt) => {
    try {
      const step = JSON.parse(evt.detail.data).step;
      if (newest === null || step > newest) {
        newest = step;
        if (details.open) offerNewest();
      }
    } catch (e) {
      /* malformed point: ignore */
    }
  });
  document.addEventListener("chart-trim", (evt) => {
    try {
      newest = JSON.parse(evt.detail.data).step;
    } catch (e) {
      return;
    }
    if (details.open && viewStep() === null && g && g.step > newest) load(null);
  });
  // A cell chosen in the Parameters panel: the same parameter here (kept for the next graph
  // while none is on screen; nothing is fetched for it).
  document.addEventListener("param-selected", (evt) => {
    const { name, row, col } = evt.detail || {};
    const label = `${name}[${row}][${col}]`;
    paramInput.value = label;
    if (g && details.open) pickParam(label);
    else pendingParam = label;
  });

  view.addEventListener("click", (evt) => {
    const node = evt.target.closest("[data-node]");
    if (node) return select(Number(node.dataset.node));
    const box = evt.target.closest("[data-group]");
    if (box) toggle(Number(box.dataset.group));
  });
  // SVG boxes are role=button: Enter and Space press them, as a button's would
  view.addEventListener("keydown", (evt) => {
    if (evt.key !== "Enter" && evt.key !== " ") return;
    const target = evt.target.closest?.("svg [data-node], svg [data-group]");
    if (!target) return;
    evt.preventDefault();
    target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  });
  // a parameter matrix's lines show while it is pointed at or focused (one at a time)
  const hot = (target) => {
    const box = target?.closest?.(".gbox.k-param");
    const gi = box ? Number(box.dataset.group) : null;
    for (const l of els?.links || []) l.el.classList.toggle("hot", l.from === gi);
  };
  view.addEventListener("pointerover", (evt) => hot(evt.target));
  view.addEventListener("pointerleave", () => hot(document.activeElement));
  view.addEventListener("focusin", (evt) => hot(evt.target));
  view.addEventListener("focusout", () => hot(null));

  inspectBody.addEventListener("click", (evt) => {
    const b = evt.target.closest("[data-goto]");
    if (b) select(Number(b.dataset.goto), { reveal: true });
  });
  document.getElementById("graph-inspect-close").addEventListener("click", () => {
    const back = selected;
    select(null);
    if (back !== null) els?.nodes.get(back)?.focus();
  });
  playBtn.addEventListener("click", play);
  skipBtn.addEventListener("click", skip);
  stopBtn.addEventListener("click", stop);
  paramForm.addEventListener("submit", (evt) => {
    evt.preventDefault();
    pickParam(paramInput.value);
  });

  new ResizeObserver(() => {
    const w = view.clientWidth;
    if (!g || view.hidden || Math.abs(w - lastWidth) < 24) return;
    lastWidth = w;
    requestAnimationFrame(render);
  }).observe(view);

  if (details.open) sync();
})();
