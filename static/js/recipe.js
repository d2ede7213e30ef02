// The recipe's phase walk. A step the server renders with data-walk > 0 (Step once, or a run
// slowed to 5 steps/s or less) is shown phase by phase: sample, forward, loss, backward,
// update, data-walk milliseconds in all. data-at on the recipe says which phase is on (5: all
// at once); the CSS reveals and highlights by it. Each phase is announced as a `recipe-phase`
// event (events.js), which the Parameters panel uses to light up the gradient map, then the
// update.

import { recipePhase } from "./events.js";

const PHASES = 5;

export function startRecipeWalk() {
  const box = document.getElementById("recipe");
  if (!box) return;
  let step = null; // the step walked (or shown) last
  let at = 5;
  let timers = [];

  const view = () => box.querySelector(".recipe");

  function show(el, k) {
    at = k;
    if (el.dataset.at !== String(k)) el.dataset.at = String(k);
    recipePhase.send({ step, at: k });
  }

  function stop() {
    for (const t of timers) clearTimeout(t);
    timers = [];
  }

  function changed() {
    const el = view();
    if (!el) {
      stop();
      step = null;
      return;
    }
    const s = Number(el.dataset.step);
    if (s === step) {
      // the same step rendered again (a pause, a reconnect): the walk goes on where it is
      if (el.dataset.at !== String(at)) el.dataset.at = String(at);
      return;
    }
    stop();
    step = s;
    const walk = Number(el.dataset.walk) || 0;
    if (walk <= 0) {
      show(el, 5);
      return;
    }
    show(el, 0);
    for (let k = 1; k < PHASES; k++) {
      timers.push(
        setTimeout(() => {
          const now = view();
          if (now && Number(now.dataset.step) === step) show(now, k);
        }, (k * walk) / PHASES),
      );
    }
  }

  // A re-render of the step being walked keeps its phase, and the map keeps what the
  // Parameters panel drew into it (a morph would reset what the server did not render).
  document.addEventListener("htmx:before:morph:attr", (evt) => {
    const el = evt.target;
    const name = evt.detail?.attrName;
    if (el.classList?.contains("recipe") && name === "data-at") {
      if (Number(el.dataset.step) === step) evt.preventDefault();
    } else if (el.id === "recipe-map" && /^(width|height|data-frame-step|data-lens)$/.test(name)) {
      evt.preventDefault();
    }
  });

  // A MutationObserver's callback runs before the next paint: a re-render of the same step
  // never flashes the whole step in the middle of its walk.
  new MutationObserver(changed).observe(box, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["data-step", "data-at"],
  });
  changed();
}
