// What each stop of the tour waits for (its data-task, templates/partials/tour.html): the
// learner doing the thing it suggests on the page itself. watchTask(name, done, signal) calls
// done() once when it happens; the signal (an AbortController's) stops the watching when the
// stop ends.

import { point, recipePhase, viewChange } from "./events.js";
import { wantedStep } from "./view.js";

const STEPS_ENOUGH = 50; // steps seen training: the bars have moved enough to see

function listen(name, handler, signal, target = document) {
  target.addEventListener(name, handler, { signal });
}

const TASKS = {
  // Train pressed: the run has taken STEPS_ENOUGH steps, or some and stopped
  train(done, signal) {
    let seen = 0;
    listen(point.name, () => {
      seen += 1;
      if (seen >= STEPS_ENOUGH) done();
    }, signal);
    const status = document.getElementById("status");
    if (!status) return;
    const watcher = new MutationObserver(() => {
      const state = status.querySelector("[data-state]")?.dataset.state;
      if (seen > 0 && state !== "training" && state !== "queued") done();
    });
    watcher.observe(status, { childList: true, subtree: true, attributes: true });
    signal.addEventListener("abort", () => watcher.disconnect());
  },

  // a step walked to its update (the live one, or a past one)
  walk(done, signal) {
    listen(recipePhase.name, (evt) => {
      if (evt.detail?.at === 4) done();
    }, signal);
  },

  // the Train card's advanced settings open: its steps are num_steps
  advanced(done, signal) {
    const box = document.querySelector("[data-testid=advanced]");
    if (!box) return;
    if (box.open) return done();
    listen("toggle", () => {
      if (box.open) done();
    }, signal, box);
  },

  // a past step on view (time travel: the chart, a mark, a milestone)
  travel(done, signal) {
    if (wantedStep() !== null) return done();
    listen(viewChange.name, (evt) => {
      if (evt.detail?.step !== null && evt.detail?.step !== undefined) done();
    }, signal);
  },

  // a word of the glossary pointed at or focused
  term(done, signal) {
    const hit = (evt) => {
      if (evt.target.closest?.("a.term")) done();
    };
    listen("focusin", hit, signal);
    listen("pointerover", hit, signal);
  },
};

export function watchTask(name, done, signal) {
  let called = false;
  const once = () => {
    if (called || signal.aborted) return;
    called = true;
    done();
  };
  TASKS[name]?.(once, signal);
}
