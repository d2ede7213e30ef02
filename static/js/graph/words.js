// The graph in words: what a group is and holds (a box's lines, its label for screen readers),
// a node's name, and the whole step's summary.

import { thousands as count, typeset } from "../format.js";
import { expanded, g } from "./state.js";

export const fmt = (x) => typeset(x, 3);
const fmt2 = (x) => typeset(x, 2); // ranges in a box's narrow lines
export const fmtLong = (x) => typeset(x, 6);

export function tok(G, i) {
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

export const STAGE = {
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

export function where(gr) {
  if (gr.kind === "param") return `parameters ${gr.matrix}`;
  if (gr.kind === "mean") return "the loss (mean over positions)";
  if (gr.pos === undefined) return gr.name;
  const layer = gr.layer === undefined ? "" : ` layer ${gr.layer}`;
  const what = gr.kind === "head" ? `attention head ${gr.head}` : STAGE[gr.kind] || gr.name;
  return `position ${gr.pos}${layer}, ${what}`;
}

// {title, lines, grad, weights?} of a collapsed group: its name and size, its input and
// output values in the terms of its stage, and the gradient of its outputs.
export function describe(gr) {
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

export function ariaOf(gr, d) {
  const weights = d.weights ? `; attention weights ${d.weights.map(fmt).join(", ")}` : "";
  const action = expanded.has(gr.i) ? "collapse" : "show its nodes";
  return (
    `${where(gr)}: ${count(gr.nodes.length)} nodes; ${d.lines.filter(Boolean).join("; ")}` +
    `${weights}; gradient ${d.grad}. Press to ${action}.`
  );
}

export function describeGraph() {
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

export function nodeName(id) {
  const label = g.label[id];
  return label ? label.slice(label.indexOf("[")) : g.op[id];
}

export function nodeLabel(id) {
  return g.label[id] ? `parameter ${g.label[id]}` : `${g.op[id]} node #${id}`;
}
