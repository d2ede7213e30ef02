// One parameter up close: chosen by a click on its cell or by name, row and column in the
// picker; its value, gradient and update followed from step to step on a small chart, and its
// gradient checked by the server (GET /api/gradcheck: the loss at ±h against backprop).

import { API, fetchJSON } from "../api.js";
import { paramSelected } from "../events.js";
import { sig3 } from "../format.js";
import { LINE_COLOURS, cssVar } from "../plot.js";
import { at, describeCell, panel } from "./frame.js";

let focus = null; // {i, r, c, name, steps: [], value: [], grad: [], update: [], plot}

const nullIfNaN = (x) => (Number.isNaN(x) ? null : x);

// A new model's matrices in the picker.
export function pickerShapes(matrices) {
  const names = document.getElementById("pick-name");
  if (!names) return;
  names.replaceChildren(
    ...matrices.map((m, i) => new Option(`${m.name} (${m.shape[0]}×${m.shape[1]})`, String(i))),
  );
  pickerLimits();
}

function pickerLimits() {
  const form = document.getElementById("pick");
  if (!form || !panel.frame) return;
  const [rows, cols] = panel.frame.header.matrices[Number(form.elements.name.value) || 0].shape;
  form.elements.row.max = String(rows - 1);
  form.elements.col.max = String(cols - 1);
}

function pick(evt) {
  evt.preventDefault();
  const form = evt.currentTarget;
  const msg = document.getElementById("pick-msg");
  if (!panel.frame) return;
  const i = Number(form.elements.name.value);
  const m = panel.frame.header.matrices[i];
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

export function followCell({ i, r, c, name }) {
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
  paramSelected.send({ name, row: r, col: c }); // the graph of one step selects it too
}

export function unfollow() {
  if (focus?.plot) focus.plot.destroy();
  focus = null;
  const box = document.getElementById("focus");
  if (box) box.hidden = true;
  const empty = document.getElementById("focus-empty");
  if (empty) empty.hidden = false;
}

// The frame on show is the newest: one more step of the parameter followed.
export function follow() {
  const { frame } = panel;
  if (!focus || !frame) return;
  const step = frame.header.step;
  if (focus.steps.length && focus.steps[focus.steps.length - 1] >= step) {
    if (focus.steps[focus.steps.length - 1] > step) dropFrom(step);
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

// The model went back (a failed or diverged run): drop the steps from it on.
function dropFrom(step) {
  while (focus.steps.length && focus.steps[focus.steps.length - 1] >= step) {
    for (const k of ["steps", "value", "grad", "update"]) focus[k].pop();
  }
}

function drawFocus() {
  const box = document.getElementById("focus-chart");
  if (!box || typeof uPlot === "undefined") return;
  const data = [focus.steps, focus.value, focus.grad, focus.update];
  if (focus.plot) {
    focus.plot.setData(data);
    return;
  }
  const axis = { stroke: cssVar("--muted"), font: "11px system-ui, sans-serif", size: 52 };
  const value = (u, v) => sig3(v);
  focus.plot = new uPlot(
    {
      width: Math.max(260, Math.min(560, box.clientWidth || 520)),
      height: 160,
      scales: { x: { time: false } },
      axes: [{ ...axis, size: 30 }, { ...axis, scale: "v" }, { ...axis, scale: "g", side: 1 }],
      series: [
        { label: "step" },
        { label: "value", stroke: LINE_COLOURS[0], width: 2, scale: "v", value },
        { label: "gradient", stroke: LINE_COLOURS[1], width: 1.5, scale: "g", value },
        { label: "update", stroke: LINE_COLOURS[2], width: 1.5, scale: "g", value },
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
    const { ok, body } = await fetchJSON(`${API}/gradcheck?${q}`);
    if (!ok) {
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

export function startFocus() {
  document.getElementById("gradcheck")?.addEventListener("click", gradcheck);
  document.getElementById("pick")?.addEventListener("submit", pick);
  document.getElementById("pick-name")?.addEventListener("change", pickerLimits);
}
