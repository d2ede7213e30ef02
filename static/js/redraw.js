// Redraws while a run streams. Points come up to ~200 a second; a chart redrawn at every
// animation frame (60 a second) keeps a small machine's CPU from the trainer, and a panel
// off screen is not seen at all. So a redraw asked for runs at the next tick: one animation
// frame at most every GAP ms, shared by every redrawer of the page (four panels drawing at
// 10 a second each in frames of their own would make the browser paint 40 frames a second;
// together they make 10). While a redrawer's `box` is off screen, `hidden` (cheap
// bookkeeping: the counts tests and readers see) runs instead of `draw`; `draw` runs when the
// box comes into view again. Returns the function that asks for a redraw.

const GAP = 100; // ms between ticks

const due = new Set(); // the redrawers that asked since the last tick
let asked = false; // a tick is waiting for its frame
let last = -Infinity; // when the last tick ran (performance.now)

function tick(now) {
  const wait = last + GAP - now;
  if (wait > 0) {
    setTimeout(() => requestAnimationFrame(tick), wait); // too soon: the frame after the gap
    return;
  }
  asked = false;
  last = now;
  const runs = [...due];
  due.clear();
  for (const run of runs) {
    try {
      run();
    } catch (err) {
      console.error(err); // one panel's fault must not stop the others' redraws
    }
  }
}

function schedule(run) {
  due.add(run);
  if (asked) return;
  asked = true;
  requestAnimationFrame(tick);
}

export function redrawer(box, draw, { hidden = null } = {}) {
  let onScreen = true; // until the observer says otherwise
  let missed = false; // a redraw was skipped off screen: draw when back in view

  function run() {
    if (onScreen) {
      missed = false;
      draw();
    } else {
      missed = true;
      hidden?.();
    }
  }

  const ask = () => schedule(run);

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
