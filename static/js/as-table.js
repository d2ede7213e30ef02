// The drawings' numbers as tables, on demand: the loss chart (its steps, the loss of each
// step's name, the running average, the held-out loss) and the "e" card (every character's
// probability now and before training). A button in the card's header ("as a table",
// aria-expanded) shows and hides each; built when shown and kept up to date while shown,
// hidden they cost nothing.

import { API, getJSON } from "./api.js";
import { chartTrim, point, viewChange } from "./events.js";
import { fixed, thousands } from "./format.js";
import { shownStep } from "./view.js";

const ROWS = 20; // steps in the loss table: evenly spread from the first to the newest
const REFRESH_MS = 3000; // at most this often while training goes on

function table(caption, head, rows) {
  const t = document.createElement("table");
  t.className = "as-table";
  t.createCaption().textContent = caption;
  const tr = t.createTHead().insertRow();
  for (const h of head) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    tr.append(th);
  }
  const body = t.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    row.forEach((text, k) => {
      const cell = k === 0 ? document.createElement("th") : document.createElement("td");
      if (k === 0) cell.scope = "row";
      cell.textContent = text;
      r.append(cell);
    });
  }
  return t;
}

// ---- the loss ----

const loss = { model: null, points: [], val: [], timer: 0, busy: false };

async function loadLoss(box) {
  if (loss.busy) return;
  loss.busy = true;
  try {
    const since = loss.points.length ? loss.points.at(-1).step : 0;
    let h = await getJSON(`${API}/history${since ? `?since=${since}` : ""}`);
    if (h && since && h.model !== loss.model) h = await getJSON(`${API}/history`);
    if (!h) return;
    const fresh = !since || h.model !== loss.model;
    loss.model = h.model;
    loss.points = fresh ? h.points : loss.points.concat(h.points);
    loss.val = fresh ? h.val : loss.val.concat(h.val);
    drawLoss(box);
  } finally {
    loss.busy = false;
  }
}

function drawLoss(box) {
  const out = box;
  const pts = loss.points;
  if (!pts.length) {
    out.textContent = "No training steps yet.";
    return;
  }
  const picks = new Set();
  for (let k = 0; k <= ROWS; k++) picks.add(Math.round((k * (pts.length - 1)) / ROWS));
  const val = [...loss.val].sort((a, b) => a.step - b.step);
  let v = -1;
  const rows = [...picks].map((k) => {
    const p = pts[k];
    while (v + 1 < val.length && val[v + 1].step <= p.step) v += 1;
    const held = v >= 0 ? `${fixed(val[v].loss, 3)} (step ${thousands(val[v].step)})` : "–";
    return [thousands(p.step), fixed(p.loss, 3), fixed(p.smooth, 3), held];
  });
  out.replaceChildren(
    table(
      `The loss at ${rows.length} of its ${thousands(pts.length)} steps, from the first to the newest`,
      ["step", "loss of the step’s name", "running average", "held-out loss (latest measured)"],
      rows,
    ),
  );
}

// The header's button shows and hides the box; `shown` is called each time it is shown.
function toggled(box, shown) {
  const button = document.querySelector(`[aria-controls="${box.id}"]`);
  button?.addEventListener("click", () => {
    box.hidden = !box.hidden;
    button.setAttribute("aria-expanded", String(!box.hidden));
    if (!box.hidden) shown(box);
  });
}

function startLossTable() {
  const box = document.getElementById("loss-table");
  if (!box) return;
  toggled(box, loadLoss);
  point.on(() => {
    if (box.hidden || loss.timer) return;
    loss.timer = setTimeout(() => {
      loss.timer = 0;
      if (!box.hidden) loadLoss(box);
    }, REFRESH_MS);
  });
  chartTrim.on(() => {
    loss.points = [];
    loss.val = [];
    if (!box.hidden) loadLoss(box);
  });
}

// ---- the "e" card ----

// A bar's title says "<char>: now <p>, before training <p0>" (or "at step k <p>"):
// templates/partials/dist.html.
const BAR = /^(.*): (?:now|at step \d+) (\S+), before training (\S+)$/;

function drawProbe(box) {
  const where = shownStep() === null ? "#dist" : "#dist-view";
  const dist = document.querySelector(`${where} .dist`);
  const out = box;
  if (!dist) {
    out.textContent = "No guess to show yet.";
    return;
  }
  const rows = [...dist.querySelectorAll(".bar[title]")]
    .map((bar) => bar.title.match(BAR))
    .filter(Boolean)
    .map(([, ch, p, p0]) => [ch, p, p0]);
  const title = document.getElementById("h-dist")?.textContent.trim() ?? "";
  out.replaceChildren(
    table(
      `${title}: every character’s probability at step ${thousands(Number(dist.dataset.step))}`,
      ["next character", "probability", "before training"],
      rows,
    ),
  );
}

function startProbeTable() {
  const box = document.getElementById("probe-table");
  if (!box) return;
  toggled(box, drawProbe);
  // a new guess (live, or of the step on view) while it is shown
  const redraw = () => {
    if (!box.hidden) drawProbe(box);
  };
  const watch = { childList: true, subtree: true, attributes: true, attributeFilter: ["title"] };
  for (const id of ["dist", "dist-view"]) {
    const el = document.getElementById(id);
    if (el) new MutationObserver(redraw).observe(el, watch);
  }
  viewChange.on(redraw);
}

export function startTables() {
  startLossTable();
  startProbeTable();
}
