// The recipe's walk, at the learner's pace. data-at on the recipe says which phase is on (0
// sample, 1 forward, 2 loss, 3 backward, 4 update; 5 the whole step at once); the CSS reveals,
// highlights and says (data-say) by it. A step of Step once (data-walk="held") starts at phase
// 0 and stays there until the learner moves on: Next phase / Previous phase, or → / ← while the
// recipe has focus; Play moves on by itself, a phase every 1.5, 3 or 5 s, and after update
// takes the next step (Step once) while it can. Any other step shows whole, and can be walked
// the same way: the live one (#recipe) and a past one (#recipe-view, time travel) each have
// their own walk. Each phase is announced as a `recipe-phase` event (events.js): the
// Parameters panel lights up the gradient map, then the update.
//
// Step once pressed in this tab brings the recipe on screen (the page scrolls to it; "Back to
// the controls" scrolls back); other tabs watching the run are left where they are.

import { recipePhase } from "./events.js";

const WHOLE = 5;
const SCROLL_WAIT = 15000; // ms after Step once within which its step scrolls into view

let stepOncePressed = -Infinity; // when this tab last pressed Step once (performance.now)

function motion() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}

function numSteps() {
  return document.getElementById("steps")?.value || "";
}

function walker(box) {
  let step = null; // the step walked (or shown) last
  let at = WHOLE;
  let playing = false;
  let timer = null;

  const view = () => box.querySelector(".recipe");
  const control = (el, name) => el.querySelector(`[data-walk="${name}"]`);

  // What the server's render does not know: the buttons' state, the loop's num_steps.
  function dress(el) {
    const prev = control(el, "prev");
    if (prev) prev.disabled = at === 0;
    const play = control(el, "play");
    const label = playing ? "Pause" : "Play";
    // only what differs: a change of text is a mutation the observer below sees
    if (play && play.textContent !== label) play.textContent = label;
    if (play) play.setAttribute("aria-pressed", String(playing));
    const n = el.querySelector("[data-num-steps]");
    if (n && !n.textContent) n.textContent = numSteps();
  }

  function show(k) {
    const el = view();
    if (!el) return;
    at = k;
    if (el.dataset.at !== String(k)) el.dataset.at = String(k);
    dress(el);
    recipePhase.send({ step, at: k });
  }

  function stopPlay() {
    clearTimeout(timer);
    timer = null;
    playing = false;
    const el = view();
    if (el) dress(el);
  }

  function pace() {
    const v = Number(control(view() ?? box, "pace")?.value);
    return Math.max(1500, v || 3000);
  }

  function tick() {
    timer = setTimeout(() => {
      if (!playing) return;
      if (at < 4) {
        show(at + 1);
        tick();
        return;
      }
      const once = document.querySelector("[data-testid=step-once]");
      if (box.id === "recipe" && once && !once.disabled) {
        once.click(); // the next step arrives held at phase 0, and the play goes on
        return;
      }
      show(WHOLE);
      stopPlay();
    }, pace());
  }

  function move(d) {
    stopPlay();
    if (d > 0) show(at >= WHOLE ? 0 : at + 1); // from the whole step, Next walks it afresh
    else if (at > 0) show(at - 1);
  }

  function changed() {
    const el = view();
    if (!el) {
      stopPlay();
      step = null;
      return;
    }
    const s = Number(el.dataset.step);
    if (s === step) {
      // the same step rendered again (a pause, a reconnect): the walk goes on where it is
      if (el.dataset.at !== String(at)) el.dataset.at = String(at);
      dress(el);
      return;
    }
    step = s;
    clearTimeout(timer);
    const held = el.dataset.walk === "held";
    if (!held) playing = false;
    show(held ? 0 : WHOLE);
    if (held && playing) tick();
    if (held && box.id === "recipe" && performance.now() - stepOncePressed < SCROLL_WAIT) {
      stepOncePressed = -Infinity;
      bringIntoView(el);
    }
  }

  box.addEventListener("click", (evt) => {
    const b = evt.target.closest("button[data-walk]");
    if (!b) return;
    const what = b.dataset.walk;
    if (what === "next") move(1);
    else if (what === "prev") move(-1);
    else if (what === "play") {
      if (playing) stopPlay();
      else {
        playing = true;
        if (at === WHOLE) show(0);
        dress(view());
        tick();
      }
    } else if (what === "back") backToControls();
  });

  box.addEventListener("keydown", (evt) => {
    if (evt.altKey || evt.ctrlKey || evt.metaKey || evt.target.closest("select, input")) return;
    if (evt.key !== "ArrowRight" && evt.key !== "ArrowLeft") return;
    if (!view()) return;
    evt.preventDefault();
    move(evt.key === "ArrowRight" ? 1 : -1);
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
  return () => step;
}

// The recipe on screen, unless it already is; the keyboard goes with it (→ / ← walk it).
function bringIntoView(el) {
  const card = el.closest("section") ?? el;
  const r = card.getBoundingClientRect();
  const say = el.querySelector("[data-testid=recipe-say]")?.getBoundingClientRect();
  const inView = r.top >= 0 && say && say.bottom <= window.innerHeight;
  if (!inView) card.scrollIntoView({ block: "start", behavior: motion() });
  el.focus({ preventScroll: true });
}

function backToControls() {
  const train = document.getElementById("controls")?.closest("section");
  train?.scrollIntoView({ block: "start", behavior: motion() });
  document.querySelector("[data-testid=step-once]")?.focus({ preventScroll: true });
}

export function startRecipeWalk() {
  const live = document.getElementById("recipe");
  if (!live) return;
  const liveStep = walker(live);
  const past = document.getElementById("recipe-view");
  const pastStep = past ? walker(past) : () => null;

  document.addEventListener("click", (evt) => {
    if (evt.target.closest("[data-testid=step-once]") && evt.isTrusted) {
      stepOncePressed = performance.now();
    }
  });

  // A re-render of the step being walked keeps its phase, and the map keeps what the
  // Parameters panel drew into it (a morph would reset what the server did not render).
  document.addEventListener("htmx:before:morph:attr", (evt) => {
    const el = evt.target;
    const name = evt.detail?.attrName;
    if (el.classList?.contains("recipe") && name === "data-at") {
      const step = el.closest("#recipe-view") ? pastStep() : liveStep();
      if (Number(el.dataset.step) === step) evt.preventDefault();
    } else if (el.id?.startsWith("recipe-map") && /^(width|height|data-frame-step|data-lens)$/.test(name)) {
      evt.preventDefault();
    } else if (el.matches?.("button[data-walk]") && /^(disabled|aria-pressed)$/.test(name)) {
      evt.preventDefault(); // the walk's, not the server's
    }
  });
}
