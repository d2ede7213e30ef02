// The recipe's map: every parameter, one pixel each, matrices side by side (a 2-pixel gap),
// drawn through the gradient lens while the recipe's walk is at "backward" (or shows a whole
// step), through the update lens at "update". Viewing a past step, the map is the one in its
// recipe (#recipe-view), drawn from its frame.

import { sig3 } from "../format.js";
import { namePush } from "../recipe-push.js";
import { wantedStep } from "../view.js";
import { paint, palette, rgb } from "./colour.js";
import { at, panel, scaleOf } from "./frame.js";

const GAP = 2;
// most of a step's gradients are a small fraction of the largest: lifted (|t|^0.5), they
// show as colour rather than as the card's own, in light and in dark
const GAMMA = 0.5;

export function drawMap() {
  const { frame } = panel;
  if (!frame || frame.past !== (wantedStep() !== null)) return; // the other one's frame
  const where = frame.past ? "#recipe-view" : "#recipe";
  const canvas = document.querySelector(`${where} canvas[id^="recipe-map"]`);
  const view = document.querySelector(`${where} .recipe`);
  if (!canvas || !view) return;
  namePush(frame, where, panel.vocab); // the recipe's backward sentence
  const phase = Number(view.dataset.at);
  if (phase < 3) return; // hidden until backward
  const name = phase === 4 ? "update" : "grad";
  const { matrices } = frame.header;
  // a matrix much taller than wide (mlp_fc1, 64×16) lies on its side: the map stays low
  const side = matrices.map((m) => m.shape[0] > 2 * m.shape[1]);
  const drawn = matrices.map((m, i) => (side[i] ? [m.shape[1], m.shape[0]] : m.shape));
  const width = drawn.reduce((w, [, cols]) => w + cols, 0) + GAP * (matrices.length - 1);
  const height = Math.max(...drawn.map(([rows]) => rows));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  const colours = palette();
  const img = ctx.createImageData(width, height);
  const blank = rgb("--soft");
  for (let p = 0; p < img.data.length; p += 4) {
    img.data.set([...blank, 255], p);
  }
  const scale = scaleOf(frame, name);
  let x0 = 0;
  matrices.forEach((m, i) => {
    const [rows, cols] = m.shape;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const [y, x] = side[i] ? [c, r] : [r, c];
        paint(img.data, 4 * (y * width + x0 + x), at(frame, i, name, r, c), scale, colours, GAMMA);
      }
    }
    x0 += drawn[i][1] + GAP;
  });
  ctx.putImageData(img, 0, 0);
  const step = frame.header.step;
  canvas.dataset.frameStep = String(step);
  canvas.dataset.lens = name;
  const order = matrices.map((m, i) => m.name + (side[i] ? " (on its side)" : "")).join(" · ");
  const what =
    scale === null
      ? "no gradient yet"
      : name === "grad"
        ? `the gradient of every parameter (backward), blue −${sig3(scale)} · red +${sig3(scale)}`
        : `what Adam changed in every parameter (update), blue −${sig3(scale)} · red +${sig3(scale)}`;
  const caption = document.querySelector(`${where} figcaption[id^="recipe-map-caption"]`);
  if (caption) caption.textContent = `step ${step}: ${what}; one pixel each, left to right ${order}`;
}
