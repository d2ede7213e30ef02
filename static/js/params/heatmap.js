// The Parameters panel's heatmaps: every matrix of the model, one cell per parameter, through
// the lens chosen, with a tooltip of the cell under the pointer.

import { sig3 } from "../format.js";
import { at, describeCell, panel, scaleOf } from "./frame.js";
import { paint, palette } from "./colour.js";

const LENS_LABEL = { value: "value", grad: "gradient", update: "update", m: "Adam m", v: "Adam √v" };

function rowLabels(name, rows) {
  if ((name === "wte" || name === "lm_head") && panel.vocab.length === rows) {
    return panel.vocab.map((t) => (t === "[BOS]" ? "⏎" : t));
  }
  if (name === "wpe") return [...Array(rows).keys()].map(String);
  return null;
}

// The cell under the pointer: {i, r, c, name}.
function cellAt(evt) {
  const canvas = evt.currentTarget;
  const cell = Number(canvas.dataset.cell);
  const i = Number(canvas.dataset.index);
  const m = panel.frame.header.matrices[i];
  const r = Math.min(m.shape[0] - 1, Math.max(0, Math.floor(evt.offsetY / cell)));
  const c = Math.min(m.shape[1] - 1, Math.max(0, Math.floor(evt.offsetX / cell)));
  return { i, r, c, name: m.name };
}

function hover(evt) {
  if (!panel.frame) return;
  const grid = document.getElementById("params-grid");
  const tip = document.getElementById("params-tip");
  tip.textContent = describeCell(cellAt(evt));
  tip.hidden = false;
  const box = (tip.offsetParent || grid).getBoundingClientRect();
  tip.style.left = `${Math.max(0, Math.min(evt.clientX - box.left + 12, box.width - 360))}px`;
  tip.style.top = `${evt.clientY - box.top + 16}px`;
}

// A figure per matrix (a new model's); a click on a cell calls onPick with it.
export function build(matrices, onPick) {
  const grid = document.getElementById("params-grid");
  const tip = document.getElementById("params-tip");
  grid.replaceChildren();
  matrices.forEach((m, i) => {
    const [rows, cols] = m.shape;
    const cell = Math.max(3, Math.min(10, Math.floor(260 / Math.max(rows, cols))));
    const fig = document.createElement("figure");
    fig.className = "matrix";
    fig.dataset.name = m.name;
    const cap = document.createElement("figcaption");
    cap.textContent = `${m.name} ${rows}×${cols}`;
    const body = document.createElement("div");
    body.className = "matrix-body";
    const labels = rowLabels(m.name, rows);
    if (labels) {
      const col = document.createElement("div");
      col.className = "rowlabels";
      col.setAttribute("aria-hidden", "true");
      for (const text of labels) {
        const s = document.createElement("span");
        s.textContent = text;
        s.style.height = `${cell}px`;
        s.style.fontSize = `${Math.min(cell, 9)}px`;
        col.append(s);
      }
      body.append(col);
    }
    const canvas = document.createElement("canvas");
    canvas.width = cols;
    canvas.height = rows;
    canvas.style.width = `${cols * cell}px`;
    canvas.style.height = `${rows * cell}px`;
    canvas.dataset.index = String(i);
    canvas.dataset.cell = String(cell);
    canvas.dataset.testid = `matrix-${m.name}`;
    // its role, name and place in the tab order: cells.js (the keyboard's way in)
    canvas.addEventListener("mousemove", hover);
    canvas.addEventListener("mouseleave", () => (tip.hidden = true));
    canvas.addEventListener("click", (evt) => {
      if (panel.frame) onPick(cellAt(evt));
    });
    body.append(canvas);
    fig.append(cap, body);
    grid.append(fig);
  });
}

// The frame on show through the lens, on one scale or one per matrix, and what the scale is.
export function draw() {
  const { frame, lens, perMatrix } = panel;
  if (!frame) return;
  const grid = document.getElementById("params-grid");
  const { header } = frame;
  const lensScale = (only) => {
    const s = scaleOf(frame, lens, only);
    return s !== null && lens === "v" ? Math.sqrt(s) : s; // √v is drawn from v
  };
  const shared = lensScale(null);
  const colours = palette();
  header.matrices.forEach((m, i) => {
    const canvas = grid.querySelector(`canvas[data-index="${i}"]`);
    if (!canvas) return;
    const [rows, cols] = m.shape;
    const scale = perMatrix ? lensScale(i) : shared;
    const cap = canvas.closest("figure").querySelector("figcaption");
    cap.textContent = `${m.name} ${rows}×${cols}` + (perMatrix ? `  ±${sig3(scale)}` : "");
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let x = at(frame, i, lens, r, c);
        if (lens === "v") x = Math.sqrt(x);
        paint(img.data, 4 * (r * cols + c), x, scale, colours);
      }
    }
    ctx.putImageData(img, 0, 0);
  });
  showScale(shared, header.step);
  grid.dataset.step = String(header.step);
}

function showScale(scale, step) {
  const scaleText = document.getElementById("params-scale");
  const stepText = document.getElementById("params-step");
  const label = LENS_LABEL[panel.lens];
  if (scale === null) {
    scaleText.textContent = `${label}: none yet (the model has not taken a step since it was made or loaded)`;
  } else if (panel.perMatrix) {
    scaleText.textContent =
      `${label}: each matrix on its own scale, blue −s · white 0 · red +s, s beside its ` +
      "name (99th percentile of |x| in it)";
  } else {
    scaleText.textContent =
      `${label}: blue −${sig3(scale)} · white 0 · red +${sig3(scale)} ` +
      "(99th percentile of |x|; beyond it, full colour)";
  }
  scaleText.dataset.scale = scale === null ? "" : String(scale);
  stepText.textContent = `showing step ${step}`;
  stepText.dataset.step = String(step);
}
