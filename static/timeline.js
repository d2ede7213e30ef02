// microgpt-live: time travel. The page is live (every panel follows training) or viewing one
// past step k. This file keeps that state and the controls that change it:
//
// - the timeline under the loss chart: a range input whose own htmx attributes ask GET /ui/view
//   for the panels as they were (the bar, the recipe, the "e" bars, Ask the model); here, its
//   max follows training and the answer is applied;
// - "back to live" in the bar, the small multiples' buttons (server-rendered, re-rendered as
//   training goes on), and `view-request` events from the charts in static/app.js (a click on
//   a step of the loss chart or of the probability line).
//
// html[data-view] says which the panels show (the CSS swaps the live #recipe and #dist for
// #recipe-view and #dist-view, so going back to live is instant); #view-step holds k for every
// fragment request (the prefix box and the samples form include it; empty: live). A change is
// announced as a `view-change` event {step: k, or null for live} on document.body: the
// charts mark the step, the Parameters panel fetches that step's frame. The address carries
// ?step=k, so a moment can be linked; the server renders such a page already viewing k.
(() => {
  "use strict";
  // this page's run: every request goes to its own /api/runs/{id} (templates/base.html)
  const API = document.body.dataset.api || "/api";

  const root = document.documentElement;
  const range = document.getElementById("timeline");
  const out = document.getElementById("timeline-out");
  const stepInput = document.getElementById("view-step");
  const bar = document.getElementById("view-bar");
  if (!range || !stepInput || !bar) return;

  let lo = Number(range.min);
  let newest = Number(range.max);

  const fmt = (n) => n.toLocaleString("en-US");

  // The step the page shows, or is on its way to (null: live).
  function wanted() {
    return stepInput.value === "" ? null : Number(stepInput.value);
  }

  function shownStep() {
    return root.dataset.view === undefined ? null : Number(root.dataset.view);
  }

  function announce(step) {
    const evt = new CustomEvent("view-change", { bubbles: true, detail: { step } });
    document.body.dispatchEvent(evt);
  }

  // ---------- the timeline ----------

  function showRange() {
    const k = wanted();
    if (out) out.textContent = k === null ? "live" : fmt(k);
    range.setAttribute(
      "aria-valuetext",
      k === null ? `live, step ${fmt(newest)}` : `step ${fmt(k)} of ${fmt(newest)}`,
    );
    const ends = { "timeline-lo": lo, "timeline-newest": newest };
    for (const [id, step] of Object.entries(ends)) {
      const el = document.getElementById(id);
      if (el) el.textContent = fmt(step);
    }
    for (const el of bar.querySelectorAll("[data-newest]")) el.textContent = fmt(newest);
  }

  function setBounds(first, last) {
    lo = first;
    newest = Math.max(first, last);
    range.min = String(lo);
    range.max = String(newest);
    if (wanted() === null) range.value = String(newest); // live: the thumb stays at the end
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
    range.dispatchEvent(new CustomEvent("view-goto"));
  }

  // Dragging or arrow keys: the range's input event (htmx sends it, throttled). The step is the
  // page's from now on: a model-updated nudge to the prefix box already asks about it.
  range.addEventListener("input", () => {
    stepInput.value = range.value;
    showRange();
  });

  // A late answer after "back to live" must not bring the past back.
  range.addEventListener("htmx:before:swap", (evt) => {
    if (wanted() === null) evt.preventDefault();
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
    for (const el of document.querySelectorAll("[data-view-step]")) el.textContent = fmt(k);
    setAddress(k);
    showRange();
    markMultiple();
    announce(k); // also for the same step: its panels were rendered anew
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
      announce(null);
      document.body.dispatchEvent(new CustomEvent("view-live")); // the prefix box asks again
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

  let moved = false; // a new newest step waits for the next frame (points come ~30 a second)
  document.addEventListener("point", (evt) => {
    try {
      const step = JSON.parse(evt.detail.data).step;
      if (step > newest) {
        newest = step;
        if (!moved) {
          moved = true;
          requestAnimationFrame(() => {
            moved = false;
            setBounds(lo, newest);
          });
        }
      }
    } catch (e) {
      /* malformed point: ignore */
    }
  });

  // A failed or diverged run: the steps after the checkpoint are gone.
  document.addEventListener("chart-trim", (evt) => {
    try {
      const step = JSON.parse(evt.detail.data).step;
      if (wanted() !== null && wanted() > step) live();
      setBounds(Math.min(lo, step), step);
    } catch (e) {
      /* malformed: ignore */
    }
  });

  document.addEventListener("view-request", (evt) => goto(Number(evt.detail?.step)));

  // ---------- the small multiples ----------

  const multiples = document.getElementById("multiples");

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

  // A link to a step opens on it (the server rendered its panels, and the other scripts read
  // #view-step as they start); a bad one opens live, saying why, without ?step in the address.
  if (wanted() !== null) {
    root.dataset.view = String(wanted());
    markMultiple();
  } else if (new URL(location.href).searchParams.has("step")) {
    setAddress(null);
  }
  showRange();
})();
