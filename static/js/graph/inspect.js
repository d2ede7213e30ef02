// The chain rule at the selected node, with its numbers: its gradient as the sum, over the
// nodes that used it, of their gradient times the local derivative, checked against the
// gradient backward stored. For a parameter, the sum over its paths to the loss.

import { g, inspectBody, inspectTitle, inspector, path, selected } from "./state.js";
import { fmtLong, nodeLabel } from "./words.js";

export function inspect() {
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
