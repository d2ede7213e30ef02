// The narrow page's graph: the lanes as lists of buttons (a group, its nodes when expanded),
// in place of the drawing.

import { shownNodes } from "./layout.js";
import { els, expanded, g, view } from "./state.js";
import { thousands as count } from "../format.js";
import { describe, fmt, nodeName, tok } from "./words.js";

export function renderList() {
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
