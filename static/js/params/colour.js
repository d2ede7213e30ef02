// Colours of the heatmaps and the recipe's map: blue below zero, the card's colour at 0, red
// above, full at ±scale.

// A theme colour (a CSS variable) as [r, g, b].
export function rgb(name) {
  const probe = document.createElement("span");
  probe.style.color = getComputedStyle(document.documentElement).getPropertyValue(name);
  document.body.append(probe);
  const m = getComputedStyle(probe).color.match(/\d+/g) || [255, 255, 255];
  probe.remove();
  return m.slice(0, 3).map(Number);
}

const NEG = [33, 102, 172];
const POS = [178, 24, 43];

// Pixel p of an ImageData's data: x on the diverging scale, grey for no value (a step's
// gradient before any step).
export function paint(pixels, p, x, scale, neutral) {
  let color = [150, 150, 150];
  if (!Number.isNaN(x) && scale !== null) {
    const t = Math.max(-1, Math.min(1, x / scale));
    const end = t < 0 ? NEG : POS;
    const a = Math.abs(t);
    color = neutral.map((n, j) => Math.round(n + (end[j] - n) * a));
  }
  pixels[p] = color[0];
  pixels[p + 1] = color[1];
  pixels[p + 2] = color[2];
  pixels[p + 3] = 255;
}
