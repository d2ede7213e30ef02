// The recipe's backward sentence names the biggest push: the parameter whose gradient is the
// largest in size, from the step's frame (the Parameters panel's, GET /api/params.bin), named
// as the panel names it: wte and lm_head rows by character, wpe rows by position.

import { typeset } from "./format.js";
import { at } from "./params/frame.js";

// {name, row, col, grad} of the largest |gradient| in frame f (null: it has no gradient).
export function biggestPush(f) {
  let best = null;
  f.header.matrices.forEach((m, i) => {
    const [rows, cols] = m.shape;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const g = at(f, i, "grad", r, c);
        if (!Number.isNaN(g) && (!best || Math.abs(g) > Math.abs(best.grad))) {
          best = { name: m.name, row: r, col: c, grad: g };
        }
      }
    }
  });
  return best;
}

function rowLabel(name, row, vocab) {
  if ((name === "wte" || name === "lm_head") && vocab[row] !== undefined) return vocab[row];
  return String(row);
}

// Fills the sentence in `where`'s recipe when the frame is of the step it shows.
export function namePush(f, where, vocab) {
  const view = document.querySelector(`${where} .recipe`);
  const slot = view?.querySelector("[data-push]");
  if (!slot || Number(view.dataset.step) !== f.header.step) return;
  const push = biggestPush(f);
  const text = push
    ? `${push.name}[${rowLabel(push.name, push.row, vocab)}][${push.col}] (gradient ${typeset(push.grad)})`
    : "no parameter: this step has no gradient";
  if (slot.textContent !== text) slot.textContent = text;
  slot.dataset.name = push ? `${push.name}:${push.row}:${push.col}` : "";
}
