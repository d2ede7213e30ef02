// The guided first visit (templates/partials/tour.html): offered on a first visit ("Take the
// tour" beside the status; later from Help), never imposed. Not a dialog: the tour is a box
// in the page's flow, inside the panel its stop is about (after the panel's header), so it
// covers nothing, and the page works as ever around it. Each stop has one thing to try
// (tour-tasks.js); doing it marks the stop done and the tour waits for the learner: "Next
// stop" / "Previous stop" move, Escape or "Skip the tour" leave. Where the learner is (or
// that they finished, skipped or declined) is kept in localStorage, so a reload resumes the
// tour and a second visit does not offer it again. The stop on show is html[data-tour] (the
// CSS points at what it is about).

import { watchTask } from "./tour-tasks.js";

const KEY = "microgpt-tour";
const MARGIN = 8; // px kept above what is scrolled into view

let box = null;
let stops = [];
let at = -1; // the stop on show; -1: the tour is not on
let watching = null; // the AbortController of the stop's task

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "null");
  } catch (e) {
    return null;
  }
}

function save(state) {
  try {
    localStorage.setItem(KEY, JSON.stringify(state));
  } catch (e) {
    // storage refused (a private window): the tour is offered again next time
  }
}

function motion() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}

function button(name) {
  return box.querySelector(`[data-tour="${name}"]`);
}

function say(text) {
  const out = box.querySelector("[data-tour-say]");
  if (out) out.textContent = text;
}

// The box after the stop's panel's header (or at the end of the panel).
function place(stop) {
  const target = document.querySelector(stop.dataset.target) ?? document.querySelector("main");
  const header = target.querySelector(":scope > header");
  if (header) header.after(box);
  else target.append(box);
  return target;
}

// The box in sight, and the top of its panel with it when both fit on the screen (the panel's
// title says what the stop is about).
function bringIntoView(target) {
  const panel = target.getBoundingClientRect();
  const r = box.getBoundingClientRect();
  if (panel.top >= 0 && r.bottom <= window.innerHeight) return;
  const fits = r.bottom - panel.top + 2 * MARGIN <= window.innerHeight;
  const top = (fits ? panel.top : r.top) - MARGIN;
  window.scrollBy({ top, behavior: motion() });
}

function markDone(stop) {
  stop.dataset.done = "";
  stop.querySelector("[data-todo]")?.setAttribute("hidden", "");
  stop.querySelector("[data-done]")?.removeAttribute("hidden");
  box.dataset.done = "";
  button("next").classList.add("primary");
  say(stop.querySelector("[data-done]")?.textContent.trim() ?? "");
}

// Stop k on show. `moved`: the learner moved with the tour's own buttons (or started it):
// the box comes into view and the keyboard goes to the stop's heading.
function show(k, { moved = false } = {}) {
  watching?.abort();
  at = Math.max(0, Math.min(stops.length - 1, k));
  const stop = stops[at];
  stops.forEach((s, j) => (s.hidden = j !== at));
  const done = stop.dataset.done !== undefined || !stop.dataset.task;
  delete box.dataset.done;
  button("next").classList.toggle("primary", done);
  const target = place(stop);
  box.hidden = false;
  box.dataset.stop = stop.dataset.stop;
  box.setAttribute("aria-labelledby", stop.querySelector("h2").id);
  box.querySelector("[data-tour-at]").textContent = String(at + 1);
  box.querySelector("[data-tour-of]").textContent = String(stops.length);
  button("prev").disabled = at === 0;
  button("next").textContent = at === stops.length - 1 ? "Finish the tour" : "Next stop";
  document.documentElement.dataset.tour = stop.dataset.stop;
  if (stop.dataset.task && stop.dataset.done === undefined) {
    watching = new AbortController();
    watchTask(stop.dataset.task, () => markDone(stop), watching.signal);
  }
  save({ state: "on", stop: at });
  if (moved) {
    bringIntoView(target);
    stop.querySelector("h2").focus({ preventScroll: true });
  }
}

// The tour left: finished, skipped (Skip, Escape) or declined on the offer.
function leave(state) {
  watching?.abort();
  const hadFocus = box.contains(document.activeElement);
  at = -1;
  box.hidden = true;
  delete document.documentElement.dataset.tour;
  hideOffer();
  save({ state });
  if (hadFocus) document.querySelector("[data-testid=help-menu] > summary")?.focus({ preventScroll: true });
}

function hideOffer() {
  const offer = document.getElementById("tour-offer");
  if (offer) offer.hidden = true;
}

function start() {
  hideOffer();
  const help = document.querySelector("[data-testid=help-menu]");
  if (help) help.open = false;
  for (const s of stops) {
    delete s.dataset.done;
    s.querySelector("[data-todo]")?.removeAttribute("hidden");
    s.querySelector("[data-done]")?.setAttribute("hidden", "");
  }
  show(0, { moved: true });
}

export function startTour() {
  box = document.getElementById("tour");
  if (!box || document.body.classList.contains("projector")) return;
  stops = [...box.querySelectorAll("[data-stop]")];

  document.addEventListener("click", (evt) => {
    const b = evt.target.closest?.("button[data-tour]");
    if (!b) return;
    const what = b.dataset.tour;
    if (what === "start") start();
    else if (what === "dismiss") leave("declined");
    else if (what === "skip") leave("skipped");
    else if (what === "prev") show(at - 1, { moved: true });
    else if (what === "next") {
      if (at >= stops.length - 1) leave("finished");
      else show(at + 1, { moved: true });
    }
  });

  // Escape leaves the tour, unless a field had a use for it
  document.addEventListener("keydown", (evt) => {
    if (evt.key !== "Escape" || at < 0 || evt.defaultPrevented) return;
    if (evt.target.closest?.("input, select, textarea")) return;
    leave("skipped");
  });

  const kept = load();
  if (kept?.state === "on") show(Number(kept.stop) || 0);
  else if (!kept) document.getElementById("tour-offer")?.removeAttribute("hidden");
}
