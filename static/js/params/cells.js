// The heatmaps from the keyboard. All of them are one Tab stop (roving: the canvas holding the
// cell in focus is the one in the tab order); the arrows move cell by cell, on to the next
// matrix past its last column (back to the previous one before its first); Home and End go to
// the row's ends, Page Up and Page Down to the previous and next matrix; Enter or Space follows
// the cell, as a click does. The cell is outlined over its canvas, its name and numbers shown
// in the tooltip and said by a polite live region (#params-cell).

import { describeCell, panel } from "./frame.js";

let cur = { i: 0, r: 0, c: 0 }; // the cell in focus
let ring = null;

const canvases = () => [...document.querySelectorAll("#params-grid canvas[data-index]")];
const shapeOf = (i) => panel.frame.header.matrices[i].shape;

function rowName(i, r) {
  const { name } = panel.frame.header.matrices[i];
  if ((name === "wte" || name === "lm_head") && panel.vocab.length === shapeOf(i)[0]) {
    return `row ${r} (‘${panel.vocab[r]}’)`;
  }
  return name === "wpe" ? `row ${r} (position ${r})` : `row ${r}`;
}

// The cell in words: its matrix, row and column, then its numbers in the frame on show.
export function cellWords({ i, r, c }) {
  const { name } = panel.frame.header.matrices[i];
  return `${name}, ${rowName(i, r)}, column ${c}: ${describeCell({ i, r, c, name })}`;
}

// A new model's canvases: the first cell is the one in the tab order.
export function rovingCells() {
  cur = { i: 0, r: 0, c: 0 };
  canvases().forEach((cv, k) => {
    cv.tabIndex = k === 0 ? 0 : -1;
    cv.setAttribute("role", "application");
    const [rows, cols] = shapeOf(k);
    const { name } = panel.frame.header.matrices[k];
    cv.setAttribute(
      "aria-label",
      `${name}: ${rows} by ${cols} parameters. Arrow keys move from cell to cell, Enter follows one.`,
    );
  });
  ring = null;
}

function show(canvas, { say = true } = {}) {
  const { i, r, c } = cur;
  const cell = Number(canvas.dataset.cell);
  if (!ring || !ring.isConnected) {
    ring = document.createElement("div");
    ring.className = "cell-ring";
    ring.setAttribute("aria-hidden", "true");
  }
  canvas.parentElement.append(ring);
  ring.hidden = false;
  ring.style.left = `${canvas.offsetLeft + c * cell}px`;
  ring.style.top = `${canvas.offsetTop + r * cell}px`;
  ring.style.width = `${cell}px`;
  ring.style.height = `${cell}px`;
  const words = cellWords({ i, r, c });
  const tip = document.getElementById("params-tip");
  if (tip) {
    tip.textContent = words;
    tip.hidden = false;
    const box = (tip.offsetParent || canvas.parentElement).getBoundingClientRect();
    const at = canvas.getBoundingClientRect();
    tip.style.left = `${Math.max(0, Math.min(at.left - box.left + (c + 1) * cell + 8, box.width - 360))}px`;
    tip.style.top = `${at.top - box.top + (r + 1) * cell + 10}px`;
  }
  if (say) {
    const out = document.getElementById("params-cell");
    if (out) out.textContent = words;
  }
}

function moveTo(next) {
  const all = canvases();
  const was = all[cur.i];
  cur = next;
  const target = all[cur.i];
  if (target !== was) {
    if (was) was.tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  }
  show(target);
}

// Where a key takes the cell in focus (null: not one of ours).
function step(key) {
  const { i, r, c } = cur;
  const [rows, cols] = shapeOf(i);
  const n = panel.frame.header.matrices.length;
  const enter = (j, row, col) => {
    const [rj, cj] = shapeOf(j);
    return { i: j, r: Math.min(row, rj - 1), c: col === "last" ? cj - 1 : Math.min(col, cj - 1) };
  };
  switch (key) {
    case "ArrowRight":
      if (c < cols - 1) return { i, r, c: c + 1 };
      return i < n - 1 ? enter(i + 1, r, 0) : cur;
    case "ArrowLeft":
      if (c > 0) return { i, r, c: c - 1 };
      return i > 0 ? enter(i - 1, r, "last") : cur;
    case "ArrowDown":
      return { i, r: Math.min(rows - 1, r + 1), c };
    case "ArrowUp":
      return { i, r: Math.max(0, r - 1), c };
    case "Home":
      return { i, r, c: 0 };
    case "End":
      return { i, r, c: cols - 1 };
    case "PageDown":
      return i < n - 1 ? enter(i + 1, r, c) : cur;
    case "PageUp":
      return i > 0 ? enter(i - 1, r, c) : cur;
    default:
      return null;
  }
}

export function startCells(onPick) {
  const grid = document.getElementById("params-grid");
  if (!grid) return;
  grid.addEventListener("keydown", (evt) => {
    const canvas = evt.target.closest?.("canvas[data-index]");
    if (!canvas || !panel.frame || evt.altKey || evt.ctrlKey || evt.metaKey) return;
    if (evt.key === "Enter" || evt.key === " ") {
      evt.preventDefault();
      const { i, r, c } = cur;
      onPick({ i, r, c, name: panel.frame.header.matrices[i].name });
      return;
    }
    const next = step(evt.key);
    if (!next) return;
    evt.preventDefault();
    moveTo(next);
  });
  grid.addEventListener("focusin", (evt) => {
    const canvas = evt.target.closest?.("canvas[data-index]");
    if (!canvas || !panel.frame) return;
    const i = Number(canvas.dataset.index);
    if (i !== cur.i) cur = { i, r: 0, c: 0 };
    show(canvas);
  });
  grid.addEventListener("focusout", (evt) => {
    if (grid.contains(evt.relatedTarget)) return;
    if (ring) ring.hidden = true;
    const tip = document.getElementById("params-tip");
    if (tip) tip.hidden = true;
  });
  // a mouse click takes the roving stop to the cell clicked
  grid.addEventListener("pointerdown", (evt) => {
    const canvas = evt.target.closest?.("canvas[data-index]");
    if (!canvas || !panel.frame) return;
    const i = Number(canvas.dataset.index);
    const cell = Number(canvas.dataset.cell);
    const [rows, cols] = shapeOf(i);
    const clamp = (x, n) => Math.min(n - 1, Math.max(0, Math.floor(x / cell)));
    canvases().forEach((cv, k) => (cv.tabIndex = k === i ? 0 : -1));
    cur = { i, r: clamp(evt.offsetY, rows), c: clamp(evt.offsetX, cols) };
  });
}

// A new frame drawn: the cell in focus shows its new numbers (not said again: a live run
// would talk every step).
export function refreshCell() {
  const active = document.activeElement;
  if (active?.matches?.("#params-grid canvas[data-index]") && Number(active.dataset.index) === cur.i) {
    show(active, { say: false });
  }
}
