// Time travel. The page is live (every panel follows training) or viewing one past step k.
// This module keeps that state and the controls that change it:
//
// - the timeline under the loss chart: a range input whose own htmx attributes ask GET /ui/view
//   for the panels as they were (the bar, the recipe, the "e" bars, Ask the model); here, its
//   max follows training and the answer is applied;
// - "back to live" in the bar, the small multiples' buttons (server-rendered, re-rendered as
//   training goes on), and `view-request` events from the charts (a click on a step of the
//   loss chart or of the probability line).
//
// html[data-view] says which the panels show (the CSS swaps the live #recipe and #dist for
// #recipe-view and #dist-view, so going back to live is instant); #view-step holds k for every
// fragment request (the prefix box and the samples form include it; empty: live). A change is
// announced as a `view-change` event (events.js). The address carries ?step=k, so a moment
// can be linked; the server renders such a page already viewing k.

import { chartTrim, point, viewChange, viewGoto, viewLive, viewRequest } from "./events.js";
import { thousands } from "./format.js";
import { redrawer } from "./redraw.js";
import { shownStep, wantedStep } from "./view.js";

export function startTimeline() {
  const root = document.documentElement;
  const range = document.getElementById("timeline");
  const out = document.getElementById("timeline-out");
  const stepInput = document.getElementById("view-step");
  const bar = document.getElementById("view-bar");
  const multiples = document.getElementById("multiples");
  if (!range || !stepInput || !bar) return;

  let lo = Number(range.min);
  let newest = Number(range.max);

  // ---------- the timeline ----------

  function showRange() {
    const k = wantedStep();
    if (out) out.textContent = k === null ? "live" : thousands(k);
    range.setAttribute(
      "aria-valuetext",
      k === null ? `live, step ${thousands(newest)}` : `step ${thousands(k)} of ${thousands(newest)}`,
    );
    const ends = { "timeline-lo": lo, "timeline-newest": newest };
    for (const [id, step] of Object.entries(ends)) {
      const el = document.getElementById(id);
      if (el) el.textContent = thousands(step);
    }
    for (const el of bar.querySelectorAll("[data-newest]")) el.textContent = thousands(newest);
  }

  function setBounds(first, last) {
    lo = first;
    newest = Math.max(first, last);
    range.min = String(lo);
    range.max = String(newest);
    if (wantedStep() === null) range.value = String(newest); // live: the thumb stays at the end
    showRange();
  }

  // Go to step k from anywhere but the timeline itself (a chart, a multiple, the line): the
  // timeline's own request carries it, so every way of moving asks the server the same way.
  function goto(k) {
    if (!Number.isFinite(k)) return;
    k = Math.min(newest, Math.max(lo, Math.round(k)));
    range.value = String(k);
    stepInput.value = String(k);
    showRange();
    viewGoto.send({}, range);
  }

  // Dragging or arrow keys: the range's input event (htmx sends it, throttled). The step is the
  // page's from now on: a model-updated nudge to the prefix box already asks about it.
  range.addEventListener("input", () => {
    stepInput.value = range.value;
    showRange();
  });

  // A late answer after "back to live" must not bring the past back.
  range.addEventListener("htmx:before:swap", (evt) => {
    if (wantedStep() === null) evt.preventDefault();
  });

  // The server's answer decides: a bar with "back to live" is a step on view; else it said why
  // not (a step outside the history), and the page stays live with that message.
  range.addEventListener("htmx:after:swap", (evt) => {
    const action = evt.detail?.ctx?.request?.action || "";
    const k = new URL(action, location.href).searchParams.get("step");
    if (bar.querySelector("[data-back-live]") && k !== null) shown(Number(k));
    else live({ keepBar: true });
  });

  // ---------- the two states ----------

  // Step k's panels are in place: show them, and tell the rest of the page.
  function shown(k) {
    const again = shownStep() === k;
    root.dataset.view = String(k);
    for (const el of document.querySelectorAll("[data-view-step]")) el.textContent = thousands(k);
    setAddress(k);
    showRange();
    markMultiple();
    viewChange.send({ step: k }); // also for the same step: its panels were rendered anew
    if (!again) resample();
  }

  function live({ keepBar = false } = {}) {
    const was = shownStep();
    stepInput.value = ""; // an answer still on its way is not swapped in (htmx:before:swap)
    range.dispatchEvent(new CustomEvent("htmx:abort")); // nor worked out, if it can be helped
    delete root.dataset.view;
    if (!keepBar) bar.replaceChildren();
    range.value = String(newest);
    setAddress(null);
    showRange();
    markMultiple();
    if (was !== null) {
      viewChange.send({ step: null });
      viewLive.send(); // the prefix box asks again
      resample();
    }
  }

  function setAddress(k) {
    const url = new URL(location.href);
    if (k === null) url.searchParams.delete("step");
    else url.searchParams.set("step", String(k));
    if (url.href !== location.href) history.replaceState(history.state, "", url);
  }

  // Samples on screen are of the step on view: new ones when it changes (none: nothing to do).
  function resample() {
    const form = document.querySelector(".samples-form");
    if (form && document.querySelector("#samples [data-testid=sample-list]")) form.requestSubmit();
  }

  bar.addEventListener("click", (evt) => {
    if (!evt.target.closest("[data-back-live]")) return;
    live();
    range.focus(); // the button is gone: keep the keyboard where time travel is
  });

  // ---------- following training ----------

  // a new newest step waits for the next redraw (points come up to ~200 a second)
  const follow = () => setBounds(lo, newest);
  const askFollow = redrawer(range, follow, { hidden: follow });
  point.on(({ step }) => {
    if (step > newest) {
      newest = step;
      askFollow();
    }
  });

  // A failed or diverged run: the steps after the checkpoint are gone.
  chartTrim.on(({ step }) => {
    if (wantedStep() !== null && wantedStep() > step) live();
    setBounds(Math.min(lo, step), step);
  });

  viewRequest.on(({ step }) => goto(Number(step)));

  // ---------- the small multiples ----------

  function markMultiple() {
    const k = shownStep();
    for (const b of multiples?.querySelectorAll("button.multiple") || []) {
      const on = k !== null && Number(b.dataset.step) === k;
      if (on) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
  }

  if (multiples) {
    multiples.addEventListener("click", (evt) => {
      const b = evt.target.closest("button.multiple");
      if (b) goto(Number(b.dataset.step));
    });
    // re-rendered by the stream every few seconds while training, and for a new model
    new MutationObserver(markMultiple).observe(multiples, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["data-step"],
    });
  }

  // ---------- the page as it opened ----------

  // A link to a step opens on it (the server rendered its panels, and the other modules read
  // #view-step as they start); a bad one opens live, saying why, without ?step in the address.
  if (wantedStep() !== null) {
    root.dataset.view = String(wantedStep());
    markMultiple();
  } else if (new URL(location.href).searchParams.has("step")) {
    setAddress(null);
  }
  showRange();
}
