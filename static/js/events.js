// Every DOM event the page's modules pass to one another, declared once: its name, what it
// carries (its detail), who sends it and who listens. Page events are sent on document.body
// (or the element named) and bubble; every listener here listens on document.

function pageEvent(name) {
  return {
    name,
    send(detail = {}, target = document.body) {
      target.dispatchEvent(new CustomEvent(name, { bubbles: true, detail }));
    },
    on(listener) {
      document.addEventListener(name, (evt) => listener(evt.detail ?? {}));
    },
  };
}

// {step: k, or null for live}: the page shows step k now (also when k's panels were rendered
// anew), or live again. From timeline.js; to chart.js and probe-line.js (the step's mark),
// params/panel.js (that step's frame), graph/card.js (that step's graph).
export const viewChange = pageEvent("view-change");

// {step}: a click on a chart at a step, to see the model as it was then. From chart.js and
// probe-line.js; to timeline.js.
export const viewRequest = pageEvent("view-request");

// {}: the page went back to live. From timeline.js; to htmx: the prefix box asks again
// (hx-trigger "view-live from:body", templates/partials/prefix_input.html).
export const viewLive = pageEvent("view-live");

// {}, on the timeline: ask the server for the step it holds. From timeline.js; to htmx
// (hx-trigger "view-goto" on #timeline, templates/index.html).
export const viewGoto = pageEvent("view-goto");

// {step, at}: the recipe shows phase `at` of `step` (0 sample, 1 forward, 2 loss, 3 backward,
// 4 update; 5 the whole step at once). From recipe.js; to params/panel.js (the recipe's map).
export const recipePhase = pageEvent("recipe-phase");

// {name, row, col}: a parameter followed in the Parameters panel. From params/focus.js; to
// graph/card.js (the same parameter's paths to the loss).
export const paramSelected = pageEvent("param-selected");

// The stream's events: hx-sse turns each server-sent event into a DOM event named after it
// (on #stream, bubbling), its JSON in detail.data (app/web/stream.py sends them), parsed once
// for all its listeners (they only read it). A malformed one is ignored.
const parsed = new WeakMap(); // event -> its data (null: malformed)

function streamEvent(name) {
  return {
    name,
    on(listener) {
      document.addEventListener(name, (evt) => {
        if (!parsed.has(evt)) {
          try {
            parsed.set(evt, JSON.parse(evt.detail.data));
          } catch (e) {
            parsed.set(evt, null);
          }
        }
        const data = parsed.get(evt);
        if (data !== null) listener(data);
      });
    },
  };
}

// {step, loss, smooth, model, health?}: one training step. To chart.js, probe-line.js (more
// of its line), timeline.js (the newest step), params/health.js, graph/card.js.
export const point = streamEvent("point");

// {step, val, model}: the loss on the held-out documents. To chart.js.
export const valPoint = streamEvent("val-point");

// {step}: a failed or diverged run went back to its checkpoint; later steps are gone. To
// chart.js, probe-line.js, timeline.js, graph/card.js.
export const chartTrim = streamEvent("chart-trim");

// {}: a new Parameters frame is ready (throttled). To params/panel.js.
export const paramsReady = streamEvent("params");

// (`model-updated` goes to htmx only: the prefix box asks again.)

// The stream (re)connected: whatever was missed is loaded again. hx-sse's own event on
// #stream. To chart.js (history), connection.js, params/health.js.
export function onStreamConnected(listener) {
  document.getElementById("stream")?.addEventListener("htmx:sse:after:connection", listener);
}
