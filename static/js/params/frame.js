// The Parameters panel's data: the frame on show (every matrix of the model through every
// lens, from GET /api/params.bin: a JSON header, then float32 data per matrix, per lens,
// row-major), the model's vocabulary, and what the reader chose to see.

import { API } from "../api.js";
import { sig3 } from "../format.js";

export const panel = {
  frame: null, // {header, data, offsets, past}
  model: null, // the model generation of the frame
  vocab: [],
  lens: "value", // value, grad, update, m or v (drawn as √v)
  perMatrix: false, // one colour scale per matrix instead of one for all
};

function decode(buf) {
  const n = new DataView(buf).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const data = new Float32Array(buf, 4 + n);
  const offsets = [];
  let at = 0;
  for (const m of header.matrices) {
    offsets.push(at);
    at += m.shape[0] * m.shape[1] * header.lenses.length;
  }
  return { header, data, offsets };
}

// The frame of a past step (null: the newest), or null when the server says no.
export async function loadFrame(past) {
  const resp = await fetch(past === null ? `${API}/params.bin` : `${API}/params.bin?step=${past}`);
  if (!resp.ok) return null;
  const frame = decode(await resp.arrayBuffer());
  frame.past = past !== null;
  return frame;
}

export async function loadVocab() {
  try {
    return (await (await fetch(`${API}/state`)).json()).vocab;
  } catch (e) {
    return [];
  }
}

// The value of matrix i, lens name, row r, column c in frame f.
export function at(f, i, name, r, c) {
  const [rows, cols] = f.header.matrices[i].shape;
  const k = f.header.lenses.indexOf(name);
  return f.data[f.offsets[i] + k * rows * cols + r * cols + c];
}

// Symmetric scale: the 99th percentile of |x| over every matrix (or matrix `only`), so one
// outlier does not wash the picture out; cells beyond it are drawn at full colour.
export function scaleOf(f, name, only = null) {
  const abs = [];
  f.header.matrices.forEach((m, i) => {
    if (only !== null && i !== only) return;
    const [rows, cols] = m.shape;
    const k = f.header.lenses.indexOf(name);
    const base = f.offsets[i] + k * rows * cols;
    for (let j = 0; j < rows * cols; j++) {
      const x = f.data[base + j];
      if (!Number.isNaN(x)) abs.push(Math.abs(x));
    }
  });
  if (abs.length === 0) return null;
  abs.sort((a, b) => a - b);
  return abs[Math.min(abs.length - 1, Math.floor(abs.length * 0.99))] || abs[abs.length - 1] || 1;
}

// One parameter's numbers in the frame on show, in words.
export function describeCell({ i, r, c, name }) {
  const f = panel.frame;
  const v = at(f, i, "v", r, c);
  return (
    `${name}[${r}][${c}]  value ${sig3(at(f, i, "value", r, c))} · ` +
    `gradient ${sig3(at(f, i, "grad", r, c))} · update ${sig3(at(f, i, "update", r, c))} · ` +
    `m ${sig3(at(f, i, "m", r, c))} · √v ${sig3(Math.sqrt(v))}`
  );
}
