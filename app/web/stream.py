"""The page's stream renderer: /ui/events (app.web.routes.ui.stream) renders bus events into HTML
fragments (``<hx-partial>`` blocks that htmx swaps into their places), throttled to a few per
second per run (rendered once, the same bytes to every page of the run: app.fanout), plus a small
JSON ``point`` event per step (and ``val-point`` per held-out loss) that static/js/chart.js feeds
to the chart and a throttled ``model-updated`` event that makes the prefix box re-ask /ui/predict.

A step's chart point is encoded once for every renderer (``Points``), and a step with a newer
step already out (a replay, a batch caught up) sends only its point: 500 pages reconnecting at
once, each replaying with a renderer of its own, neither re-encode the same points 500 times
nor render panels the next step replaces (bench/reconnect_storm.py).

It renders from the events alone: a step's fragments read the step event and the run's state as
the newest ``status`` event gave it (every change of state is published as one), never asking the
service for its state per frame. The page and its other fragments are app.web.routes.ui; the
views these render, app.web.views.
"""

import html
import json
import time
import weakref
from collections import OrderedDict
from typing import NamedTuple

from sse_starlette import ServerSentEvent

from app import limits as L
from app.bus import Event
from app.contract.events import (
    DeletedEvent,
    DoneEvent,
    ErrorEvent,
    ResetEvent,
    StateOut,
    StepEvent,
    ValidationEvent,
)
from app.fanout import SharedRender
from app.lesson.story import run_memorised
from app.runs.service import RunService
from app.templating import partial, recipe_view, render
from app.web.fragments import model_fragments, prefix_input
from app.web.views.model import current_probe, multiples, probe_prefix, probe_view
from app.web.views.run import (
    pace_view,
    probe_text,
    progress_view,
    run_losses,
    run_summary,
    status_view,
    summary_view,
)

DEFAULT_STEPS = L.STEPS.default  # the progress bar's length before a run has a segment
FRAGMENT_INTERVAL = 0.25  # seconds between a run's fragment renders (its last step always)
SLOW_PACE = 5.0  # steps/s: at this speed or slower every step's recipe is rendered
REFRESH_INTERVAL = 1.0  # seconds between "model-updated" nudges to the prefix box
MULTIPLES_INTERVAL = 2.0  # seconds between re-renders of the small multiples while training
# chart points kept encoded for every renderer: a class's pages reconnecting at once replay the
# same steps, each page with a renderer of its own (its replay is from before the shared one)
POINTS_KEPT = 4096  # ~20 s of steps at full speed, ~1.5 MB


class Point(NamedTuple):
    """A step's chart point as sent, and what a renderer needs of the step besides."""

    message: bytes  # the ``point`` SSE message
    step: int
    last: bool  # the last step of its run
    single: bool  # a Step once


class Points:
    """Each step's ``point`` message, encoded once for all the renderers that send it (by bus
    event id and model: every stream of a run is sent the same), with what a renderer needs
    of the step to decide the rest, so that a replay parses a step only for its fragments."""

    def __init__(self, kept: int = POINTS_KEPT):
        self.kept = kept
        self._points: OrderedDict[tuple[int, int | None], Point] = OrderedDict()

    def of(self, event: Event, model: int | None) -> Point:
        key = (event.id, model)
        point = self._points.get(key)
        if point is None:
            d: StepEvent = event.payload
            data = {"step": d.step, "loss": d.loss, "smooth": d.smooth, "model": model}
            data["health"] = [h.model_dump() for h in d.health]  # per matrix
            sse = ServerSentEvent(data=json.dumps(data), event="point", id=str(event.id))
            last = d.run_step >= d.run_steps
            point = self._points[key] = Point(sse.encode(), d.step, last, d.single)
            if len(self._points) > self.kept:
                self._points.popitem(last=False)
        return point


POINTS = Points()


def every_step(step: Point, pace: float | None) -> bool:
    """Whether the page gets this step's recipe whatever the throttle: a step of Step once
    (the page holds its walk at phase 0 for the learner), or any step of a run slowed to
    SLOW_PACE steps/s or less."""
    return step.single or (pace is not None and pace <= SLOW_PACE)


def params_ready() -> ServerSentEvent:
    """Tells the Parameters panel a new frame is ready (it fetches /api/params.bin, one fetch
    at a time). A new message each time: the stream stamps each with its bus event's id."""
    return ServerSentEvent(data="{}", event="params")


def progress_from(state: dict, step: StepEvent | None) -> dict:
    """Progress of the current (or latest) run: from its latest step event when we have it."""
    run = state.get("segment")
    training = state["status"] == "training"
    if step is not None and run is not None and step.segment == run["id"]:
        rate = step.steps_per_sec  # over the last 20 steps
        if step.run_step >= step.run_steps and step.elapsed > 0:
            rate = step.run_steps / step.elapsed  # the run is over: its average
        return progress_view(
            step.step,
            step.run_step,
            step.run_steps,
            rate,
            step.elapsed,
            step.eta if training else None,
            step.loss,
        )
    if run is not None:
        elapsed = run.get("elapsed") or None
        done = max(0, run["step"] - run["start_step"])
        rate = done / elapsed if elapsed and done and not training else None
        return progress_view(state["step"], done, run["steps"], rate, elapsed)
    return progress_view(state["step"], 0, DEFAULT_STEPS)


# ---------- the stream ----------


class FragmentRenderer:
    """Bus events in, SSE messages out (HTML fragments, chart points, nudges). One per watched
    run renders for all its pages (``shared_render``); a client has one of its own only for
    what it renders alone: the state it starts with, a replay from before the shared one.

    Its state is that of the stream it renders, the same for every page of the shared one:
    the model, the latest step and the throttle clocks follow the bus events, which every
    stream is sent alike. ``pace``, the speed the menus show, too: a page's menu shows the
    pace of the newest status it was sent, or of the state it started with (rendered alone,
    menu included, as it joined): the shared renderer's pace, unless a change is under way
    (``set_pace`` sets it, then publishes a status, under the run's lock); then the next status
    brings the new pace, unlike the shared one, and re-renders every menu. So "render the menu
    when a status's pace differs from the last one" is right for every page at once.
    """

    def __init__(self, service: RunService, pace: object = ...):
        self.service = service
        # the run's state as the newest status event gave it (every change is published as one)
        self.latest: dict = service.state().model_dump(mode="json")
        self.model = self.latest["model"]
        # the throttles' clocks start now: a stream starts with the state, rendered whole
        self.last_render = self.last_refresh = self.last_multiples = time.monotonic()
        self._step: StepEvent | None = service.last_step  # the stream's latest step event,
        self._step_event: Event | None = None  # or the bus event to parse it from when needed
        self.pace = pace  # the speed the stream's menu shows (unknown, ``...``: render it)

    @property
    def step(self) -> StepEvent | None:
        """The stream's latest step event (parsed from its bus event at first need)."""
        if self._step_event is not None:
            self._step, self._step_event = self._step_event.payload, None
        return self._step

    @step.setter
    def step(self, step: StepEvent | None) -> None:
        self._step, self._step_event = step, None

    def __call__(self, event: Event) -> list[ServerSentEvent | bytes]:
        if event.name == "step":  # given the bus event: its payload is parsed only if needed
            return self.on_step(event)
        handler = getattr(self, f"on_{event.name}", None)
        return handler(event.payload) if handler else []

    def html(self, *parts: str) -> ServerSentEvent:
        return ServerSentEvent(data="".join(parts))

    def on_validation(self, d: ValidationEvent) -> list[ServerSentEvent]:
        """The held-out loss at a step: a point of the chart's validation line."""
        point = {"step": d.step, "val": d.loss, "model": self.model}
        return [ServerSentEvent(data=json.dumps(point), event="val-point")]

    def on_step(self, event: Event) -> list[ServerSentEvent | bytes]:
        point = POINTS.of(event, self.model)
        self._step, self._step_event = None, event
        self.latest["step"] = point.step  # the model's step, between the status events
        out: list[ServerSentEvent | bytes] = [point.message]
        if every_step(point, self.latest["pace"]) or point.last:
            return out + self.step_messages(point, time.monotonic(), forced=True)
        if event.id < self.service.bus.last_id_of("step"):
            # a newer step is out already (a replay, a batch caught up): the panels would show
            # this step only to replace it at once, so only its point goes
            return out
        return out + self.step_messages(point, time.monotonic())

    def step_messages(self, point: Point, now: float, forced: bool = False) -> list:
        """The panels' fragments and nudges for the latest step, as far as they are due."""
        out: list[ServerSentEvent] = []
        if forced or now - self.last_render >= FRAGMENT_INTERVAL:
            self.last_render = now
            out.append(self.html(*self.step_fragments(self.step, held=point.single)))
            out.append(params_ready())
        if point.last or now - self.last_refresh >= REFRESH_INTERVAL:
            self.last_refresh = now
            out.append(ServerSentEvent(data="{}", event="model-updated"))
        if point.last or now - self.last_multiples >= MULTIPLES_INTERVAL:
            self.last_multiples = now
            out.append(self.html(self.multiples_fragment()))
        return out

    def multiples_fragment(self, state: dict | None = None) -> str:
        view = multiples(self.service, state or self.latest)
        return partial("multiples", render("multiples", multiples=view), "innerHTML")

    def step_fragments(self, d: StepEvent, held: bool = False) -> list[str]:
        state = self.latest
        prefix = probe_prefix(state)
        probs = next((p.probs for p in d.probes if p.prefix == prefix), None)
        recipe = recipe_view(d, state["num_params"], state["config"]["block_size"], held)
        parts = [
            partial("progress", render("progress", progress=progress_from(state, d))),
            partial("recipe", render("recipe", recipe=recipe)),
        ]
        if probs is not None:
            parts.append(partial("dist", render("dist", d=probe_view(state, probs, d.step))))
        return parts

    def on_status(self, status: StateOut) -> list[ServerSentEvent]:
        state = self.latest = status.model_dump(mode="json")  # as the page's views read it
        parts = model_fragments(state)  # a few hundred bytes: always right after a reconnect
        if state["model"] != self.model:
            self.model, self.step = state["model"], None
            parts.append(prefix_input(state))
        status = status_view(state)
        parts += [
            partial("run-title", html.escape(state["name"]), "innerHTML"),  # renamed, any tab
            partial("status", render("status", status=status)),
            partial("controls", render("controls", status=status, message=None)),
            partial("progress", render("progress", progress=progress_from(state, self.step))),
            partial(
                "summary", render("summary", summary=run_summary(self.service, state)), "innerHTML"
            ),
            # its text follows the model's step (untrained, early, trained)
            partial("probe-explain", render("probe_explain", probe_text=probe_text(state))),
            self.multiples_fragment(state),
        ]
        if state.get("pace") != self.pace:  # only then: a re-render closes an open menu
            self.pace = state.get("pace")
            # innerHTML, not a morph: a morph leaves a select the user has touched as it was
            parts.append(partial("pace", render("pace", pace=pace_view(state)), "innerHTML"))
        out = [self.html(*parts), params_ready()]
        if state["status"] != "training" and self.step is not None:
            # Paused, stopped or finished: every panel shows exactly the last step, which the
            # throttle may have skipped (the recipe and the bars), and "Ask the model" asks again
            # (the worker sent its weights before it answered the pause).
            if self.step.step == state["step"]:
                out.insert(1, self.html(*self.step_fragments(self.step)))
            out.append(ServerSentEvent(data="{}", event="model-updated"))
        return out

    def refresh(self) -> dict:
        """The service's state now: for the rare events (a run's end, a failure) that may come
        before the status event announcing it, never per step."""
        self.latest = self.service.state().model_dump(mode="json")
        return self.latest

    def on_done(self, d: DoneEvent) -> list[ServerSentEvent]:
        state = self.refresh()
        segment = d.segment.model_dump(mode="json")  # as the summary's view reads it
        losses = run_losses(self.service.history, segment)
        summary = summary_view(state, segment, losses, run_memorised(self.service))
        return [
            self.html(partial("summary", render("summary", summary=summary), "innerHTML")),
            # the final weights reach the service just before `done`: predictions catch up
            ServerSentEvent(data="{}", event="model-updated"),
        ]

    def on_deleted(self, d: DeletedEvent) -> list[ServerSentEvent]:
        """This page's run was deleted (in another tab, or by the API): its stream ends here."""
        return [
            self.html(
                partial("run-news", render("run_deleted", run=d), "innerHTML"),
                # the stream's element without its connection: no reconnecting to a run gone
                partial("stream", '<div id="stream" hidden></div>', "outerHTML"),
            )
        ]

    def on_reset(self, d: ResetEvent) -> list[ServerSentEvent]:
        """A new run was made from this one (Reset or an upload, maybe in another tab): this
        page's run is unchanged; the run bar offers the new one."""
        return [self.html(partial("run-news", render("run_news", news=d), "innerHTML"))]

    def on_error(self, d: ErrorEvent) -> list[ServerSentEvent]:
        """A run failed or diverged: the message by the buttons, and the chart drops the steps
        after the checkpoint the model went back to."""
        state = self.refresh()
        self.step = None  # that step's weights are gone
        return [
            self.html(
                partial(
                    "controls",
                    render("controls", status=status_view(state), message=d.message),
                ),
                partial(
                    "summary",
                    render("summary", summary=run_summary(self.service, state)),
                    "innerHTML",
                ),
                # the recipe and the bars showed steps whose weights are gone
                partial("recipe", render("recipe", recipe=None, trained_steps=state["step"])),
                partial("dist", render("dist", d=current_probe(self.service, state))),
            ),
            ServerSentEvent(data=json.dumps({"step": d.step}), event="chart-trim"),
            ServerSentEvent(data="{}", event="model-updated"),
        ]


# The shared renderer of each run (made when a page first watches it); keyed weakly, and its
# factories hold the run weakly too, so a deleted run does not stay alive for this table.
SHARED: weakref.WeakKeyDictionary[RunService, SharedRender] = weakref.WeakKeyDictionary()


def shared_render(service: RunService) -> SharedRender:
    """The one renderer of ``service``'s page streams: each event rendered once for all."""
    shared = SHARED.get(service)
    if shared is None:
        run = weakref.ref(service)
        shared = SHARED[service] = SharedRender(
            service.bus,
            # started as the first page's menu: that page has just been sent the pace now
            shared=lambda: FragmentRenderer(run(), pace=run().pace),
            own=lambda: FragmentRenderer(run()),
        )
    return shared
