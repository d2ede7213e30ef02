// Colours of the heatmaps and the recipe's map: blue below zero, the card's colour at 0, red
// above, full at ±scale. The ends and the "no value" grey are the theme's (--heat-neg,
// --heat-pos, --heat-none in css/params.css), each at least 3:1 against the card in light and
// dark.

// A theme colour (a CSS variable) as [r, g, b], read once per colour scheme: reading one makes
// the browser work out the page's styles anew, and the heatmaps are painted up to ten times a
// second while a run trains (these reads were the page's costliest script while it streamed).
const scheme = window.matchMedia("(prefers-color-scheme: dark)");
const themeColours = new Map();
scheme.addEventListener("change", () => themeColours.clear());

export function rgb(name) {
  if (!themeColours.has(name)) themeColours.set(name, readColour(name));
  return themeColours.get(name);
}

// Call `redraw` when the colour scheme changes (after the colours read in the old one are
// dropped): a picture painted in the old scheme is not repainted by anything else while the
// model stands still.
export function onSchemeChange(redraw) {
  scheme.addEventListener("change", redraw);
}

function readColour(name) {
  const probe = document.createElement("span");
  probe.style.color = getComputedStyle(document.documentElement).getPropertyValue(name);
  document.body.append(probe);
  const m = getComputedStyle(probe).color.match(/\d+/g) || [255, 255, 255];
  probe.remove();
  return m.slice(0, 3).map(Number);
}

// The theme's colours for paint() (read once per colour scheme).
export function palette() {
  return {
    neutral: rgb("--card"),
    neg: rgb("--heat-neg"),
    pos: rgb("--heat-pos"),
    none: rgb("--heat-none"),
  };
}

// Pixel p of an ImageData's data: x on the diverging scale, grey for no value (a step's
// gradient before any step). `gamma` < 1 lifts the small values (the recipe's map, one pixel
// a parameter, where most gradients are a fraction of the largest).
export function paint(pixels, p, x, scale, colours, gamma = 1) {
  pixels[p + 3] = 255;
  if (Number.isNaN(x) || scale === null) {
    const none = colours.none;
    pixels[p] = none[0];
    pixels[p + 1] = none[1];
    pixels[p + 2] = none[2];
    return;
  }
  const t = Math.max(-1, Math.min(1, x / scale));
  const end = t < 0 ? colours.neg : colours.pos;
  const a = gamma === 1 ? Math.abs(t) : Math.abs(t) ** gamma;
  const n = colours.neutral;
  pixels[p] = Math.round(n[0] + (end[0] - n[0]) * a);
  pixels[p + 1] = Math.round(n[1] + (end[1] - n[1]) * a);
  pixels[p + 2] = Math.round(n[2] + (end[2] - n[2]) * a);
}
