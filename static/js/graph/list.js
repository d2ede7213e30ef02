// The narrow page's graph (a phone): the parameters the step used as a grid of buttons, then
// one position at a time (a row of buttons picks it: the one a selected node is in follows the
// selection), its groups as buttons (a group's nodes when expanded), then the loss. Every
// position in a long list made the card ~6,000 px tall at 390 px; one at a time keeps it
// within a couple of screens.

import { shownNodes } from "./layout.js";
import { els, expanded, g, path, selected, view } from "./state.js";
import { thousands as count } from "../format.js";
import { describe, fmt, nodeName, tok } from "./words.js";

let lane = null; // the position on show
let followed = null; // the selected node the lane last followed

export function renderList() {
  const lanes = [...new Set(g.groups.filter((x) => x.pos !== undefined).map((x) => x.pos))];
  lanes.sort((a, b) => a - b);
  if (selected !== followed) {
    followed = selected;
    const pos = selected === null ? undefined : g.groups[g.group[selected]].pos;
    if (pos !== undefined) lane = pos;
  }
  if (!lanes.includes(lane)) lane = lanes[0] ?? null;

  const root = document.createElement("div");
  root.className = "graph-list";
  const part = (title, groups, cls = "") => {
    const sec = document.createElement("section");
    const h = document.createElement("h3");
    h.textContent = title;
    const ul = document.createElement("ul");
    if (cls) ul.className = cls;
    for (const gr of groups) ul.append(listItem(gr));
    sec.append(h, ul);
    root.append(sec);
  };
  part("parameters (used)", g.groups.filter((x) => x.kind === "param" || x.kind === "other"), "graph-chips");
  if (lane !== null) {
    root.append(lanePicker(lanes));
    part(`position ${lane} · reads ‘${tok(g, lane)}’ → ‘${tok(g, lane + 1)}’`, g.groups.filter((x) => x.pos === lane));
  }
  part("the loss", g.groups.filter((x) => x.kind === "mean"));
  view.replaceChildren(root);
}

// A press on a position's button (card.js): that position on show at the next render.
export function pickLane(p) {
  lane = p;
}

// One button per position: the one on show pressed; a position on the selected node's paths
// to the loss is marked.
function lanePicker(lanes) {
  const sec = document.createElement("section");
  const h = document.createElement("h3");
  h.id = "graph-lanes-title";
  h.textContent = "position";
  const box = document.createElement("div");
  box.className = "graph-lanes";
  box.setAttribute("role", "group");
  box.setAttribute("aria-labelledby", h.id);
  sec.append(h, box);
  for (const p of lanes) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "graph-lane";
    b.dataset.lane = String(p);
    b.setAttribute("aria-pressed", String(p === lane));
    b.setAttribute("aria-label", `position ${p}: reads ‘${tok(g, p)}’, predicts ‘${tok(g, p + 1)}’`);
    b.textContent = `${p} ${tok(g, p)}→${tok(g, p + 1)}`;
    if (path) {
      const on = g.groups.some((x) => x.pos === p && path.groups.has(x.i));
      b.dataset.path = on ? "on" : "off";
    }
    box.append(b);
  }
  return sec;
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
  li.classList.add("open");
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
