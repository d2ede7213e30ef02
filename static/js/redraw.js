// Redraws while a run streams. Points come up to ~200 a second; a chart redrawn at every
// animation frame (60 a second) keeps a small machine's CPU from the trainer, and a panel
// off screen is not seen at all. So a redraw asked for runs at the next animation frame, at
// most once every `gap` ms, and, while `box` is off screen, `hidden` (cheap bookkeeping: the
// counts tests and readers see) runs instead of `draw`; `draw` runs when the box comes into
// view again. Returns the function that asks for a redraw.

export function redrawer(box, draw, { gap = 100, hidden = null } = {}) {
  let asked = false; // a redraw is waiting for its frame
  let last = -Infinity; // when the last one ran (performance.now)
  let onScreen = true; // until the observer says otherwise
  let missed = false; // a redraw was skipped off screen: draw when back in view

  function run(now) {
    const wait = last + gap - now;
    if (wait > 0) {
      setTimeout(() => requestAnimationFrame(run), wait); // too soon: the frame after the gap
      return;
    }
    asked = false;
    last = now;
    if (onScreen) {
      missed = false;
      draw();
    } else {
      missed = true;
      hidden?.();
    }
  }

  function ask() {
    if (asked) return;
    asked = true;
    requestAnimationFrame(run);
  }

  if (box && typeof IntersectionObserver !== "undefined") {
    new IntersectionObserver(
      (entries) => {
        onScreen = entries[entries.length - 1].isIntersecting;
        if (onScreen && missed) ask();
      },
      { rootMargin: "200px" },
    ).observe(box);
  }
  return ask;
}
