// The graph of one step as GET /api/graph sends it (~6,500 nodes, ~54,000 edges), indexed for
// drawing and for backprop's walk: typed arrays per node and per edge, each node's consumers
// and inputs as compressed rows, its groups (what each is, its outputs, its level from the
// loss) and the bundled edges between groups.

import { g } from "./state.js";

export function index(raw) {
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

// Every node on a path from `id` to the loss: the nodes it reaches along the edges (their
// ids only grow, so one pass in id order finds them), and the groups and bundles they use.
export function pathsFrom(id) {
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

