"""The page and its fragments: GET /, the /ui/events stream, and the /ui/* fragment routes.

Hypermedia first: the page opens one stream (/ui/events) that renders bus events into HTML
fragments (``<hx-partial>`` blocks that htmx swaps into their places), throttled to a few per
second per run (rendered once, the same bytes to every page of the run: app.fanout), plus a
small JSON ``point`` event per step (and ``val-point`` per held-out loss) that static/app.js
feeds to the chart and a throttled ``model-updated`` event that makes the prefix box re-ask
/ui/predict.
Controls post to /ui/* routes that call the service and answer with the controls fragment
(with the service's message inline when it refuses).
"""

import asyncio
import bisect
import html
import json
import math
import time
import weakref
from functools import lru_cache
from operator import itemgetter
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from app import limits as L
from app.bus import Event
from app.contract.api import PACE_MAX, PACE_MIN, ForkIn, RunIn
from app.contract.events import (
    DeletedEvent,
    DoneEvent,
    ErrorEvent,
    ResetEvent,
    StateOut,
    StepEvent,
    ValidationEvent,
)
from app.contract.fields import MAX_TEMPERATURE, MIN_TEMPERATURE
from app.deps import RunsDep, ServiceDep, identity
from app.errors import show
from app.fanout import SharedRender
from app.routes.api import checkpoint_upload
from app.routes.classes import class_bar
from app.routes.events import service_stream
from app.routes.run_pages import (
    LIMITS,
    RunFields,
    go_to_run,
    new_run_form,
    parse_form,
    runs_view,
)
from app.runs.errors import BadInput, ServiceError
from app.runs.machine import RESUMABLE
from app.runs.registry import Runs
from app.runs.service import RunService
from app.templating import (
    attention_view,
    dist_view,
    duration,
    multiples_view,
    pct,
    plural,
    progress_view,
    recipe_view,
    templates,
    uniform_loss,
)
from engine import EngineError, Predictor, Trainer

router = APIRouter(include_in_schema=False)  # the page
ui = APIRouter(include_in_schema=False)  # its fragments: under /ui and /ui/runs/{run_id}

PROBE = "e"  # the prefix whose distribution rides on the stream (settings.probes has it)
FALLBACK_PROBE = ""  # for a model whose vocabulary has no "e": how names start
PACES = (None, 20.0, 5.0, 1.0)  # the speed menu, steps/s (None: full speed)
DEFAULT_PREFIX = ""  # the prefix box starts empty: what does a name start with?
DEFAULT_STEPS = 500
MAX_STEPS = 10_000
DEFAULT_TEMPERATURE = 0.5
N_SAMPLES = 10
FRAGMENT_INTERVAL = 0.25  # seconds between a run's fragment renders (its last step always)
WALK_PACE = 5.0  # steps/s: at this speed or slower every step is rendered and walked through
WALK_SINGLE = 2.5  # seconds to walk through a single step's phases (Step once)
WALK_SHARE = 0.8  # of a paced step's time, spent walking (the rest shows the whole step)
REFRESH_INTERVAL = 1.0  # seconds between "model-updated" nudges to the prefix box
MULTIPLES_INTERVAL = 2.0  # seconds between re-renders of the small multiples while training
# Below this many steps the "e" guess has barely left the untrained one (seed 42, lr 0.01:
# a total-variation distance of 0.16 from it at step 10, ~0.4 from step 25 on)
EARLY_STEPS = 50


def walk_time(step: StepEvent, pace: float | None) -> float:
    """Seconds the page takes to walk through a step's five phases: a step of Step once, or of
    a run slowed to WALK_PACE steps/s or less, is shown phase by phase; at full speed, none."""
    if step.single:
        return WALK_SINGLE
    if pace is not None and pace <= WALK_PACE:
        return min(WALK_SINGLE, WALK_SHARE / pace)
    return 0.0


def params_ready() -> ServerSentEvent:
    """Tells the Parameters panel a new frame is ready (it fetches /api/params.bin, one fetch
    at a time). A new message each time: the stream stamps each with its bus event's id."""
    return ServerSentEvent(data="{}", event="params")


@lru_cache(maxsize=8)
def initial_predictor(seed: int) -> Predictor:
    """The untrained model for a seed: the 'before' of the ghost bars."""
    return Trainer(seed=seed).predictor()


@lru_cache(maxsize=64)
def initial_distribution(seed: int, prefix: str, size: int) -> tuple[float, ...] | None:
    """The ghost bars: fixed for a seed and prefix, and asked for by every tab on every render."""
    try:
        probs = initial_predictor(seed).distribution(prefix)
    except EngineError:
        return None
    return tuple(probs) if len(probs) == size else None  # another vocabulary: no ghost


# ---------- view models (plain dicts of display values) ----------

STATUS_LABELS = {
    "training": "training",
    "paused": "paused",
    "interrupted": "interrupted: resume to continue",
    "failed": "failed: resume from the last checkpoint",
}


def ui_base(state: dict) -> str:
    """Where the page's fragments of this run are: every form posts to its own run."""
    return f"/ui/runs/{state['id']}"


def status_view(state: dict) -> dict:
    """The status pill and which buttons make sense now (the service still has the last word)."""
    s, run = state["status"], state.get("segment") or {}
    not_training = s not in ("training", "queued")
    if s == "idle" and run.get("status") == "diverged":
        label = f"diverged · back at step {state['step']:,}"
    elif s == "idle":
        label = "ready · untrained" if state["step"] == 0 else f"ready · {state['step']:,} steps"
    elif s == "queued":
        label = queued_label(state)
    else:
        label = STATUS_LABELS.get(s, s)
    return {
        "ui": ui_base(state),
        "state": s,
        "label": label,
        "step": state["step"],
        "seed": state["seed"],
        "lr": state["lr"],
        "default_steps": state.get("steps") or DEFAULT_STEPS,
        "max_steps": MAX_STEPS,
        "can_train": not_training,
        "can_pause": s in ("training", "queued"),
        # paused by request, or cut off by a restart or a crash: continue from the checkpoint
        "can_resume": s in ("paused", "interrupted", "failed") and bool(run),
        "can_step": not_training,
        "can_reset": True,  # a new run: this one is kept, training or not
    }


def doc_word(state: dict, n: int = 2) -> str:
    """What the model's documents are called: names (the shipped dataset) or documents."""
    word = "name" if state.get("dataset", "names") == "names" else "document"
    return word if n == 1 else word + "s"


def queued_label(state: dict) -> str:
    """ "queued · 2nd in line · ~40 s": where the run waits for a worker, and how long."""
    pos, wait = state.get("queue_position"), state.get("queue_wait")
    label = "queued · waiting for a worker"
    if pos:
        label = f"queued · {ordinal(pos)} in line"
    if wait is not None:
        label += f" · starts in ~{duration(wait)}"
    return label


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def model_view(state: dict) -> dict:
    """The model-facts chips, the uniform-guess level and the prefix box's limit."""
    c = state["config"]
    v = c["vocab_size"]
    return {
        "ui": ui_base(state),
        "num_params": state["num_params"],
        "step": state["step"],
        "vocab_size": v,
        "block_size": c["block_size"],
        "max_prefix": c["block_size"] - 1,
        "n_layer": c["n_layer"],
        "n_head": c["n_head"],
        "n_embd": c["n_embd"],
        "dataset": state["dataset"],
        "num_docs": state["num_docs"],
        "doc_word": doc_word(state, state["num_docs"]),
        "held_out": state.get("held_out", 0),
        "uniform_loss": uniform_loss(v),
        "uniform_pct": pct(1 / v),
    }


def probe_prefix(state: dict) -> str:
    """The prefix the probe card follows: "e", or how names start when the model's vocabulary
    has no "e" (a checkpoint trained on other documents)."""
    return PROBE if PROBE in state["probes"] else FALLBACK_PROBE


def probe_text(state: dict) -> dict:
    """The probe card's heading and explanation, saying which prefix it follows and what
    training has done to the guess so far (the text follows the model's step)."""
    prefix = probe_prefix(state)
    v = state["config"]["vocab_size"]
    step = state["step"]
    return {
        "prefix": prefix,
        "title": f"What comes after “{prefix}”?" if prefix else "What comes first, after [BOS]?",
        "missing": None if prefix == PROBE else PROBE,
        "vocab_size": v,
        "uniform_pct": pct(1 / v),
        "docs": doc_word(state),
        "step": step,
        # untrained / barely moved from the untrained guess / reshaped by training
        "stage": "untrained" if step == 0 else "early" if step < EARLY_STEPS else "trained",
    }


def vocab_hint(state: dict) -> str:
    """What the prefix box accepts, from the model's vocabulary."""
    chars = [label for label in state["vocab"] if len(label) == 1]
    if "".join(chars) == "abcdefghijklmnopqrstuvwxyz":
        what = "letters a–z"
    else:
        what = "characters " + " ".join(chars[:40]) + (" …" if len(chars) > 40 else "")
    return f"{what}, up to {state['config']['block_size'] - 1}; empty asks how names start"


def pace_label(pace: float | None) -> str:
    if pace is None:
        return "full"
    return f"{pace:g} step/s" if pace == 1 else f"{pace:g} steps/s"


def pace_view(state: dict, message: str | None = None) -> dict:
    """The speed menu with the service's pace selected (added to the menu if it is another)."""
    current = state.get("pace")
    paces = list(PACES)
    if current not in paces:
        paces = [None, *sorted([*PACES[1:], current], reverse=True)]
    return {
        "ui": ui_base(state),
        "options": [
            {
                "value": "" if p is None else f"{p:g}",
                "label": pace_label(p),
                "selected": p == current,
            }
            for p in paces
        ],
        "message": message,
    }


def parse_pace(raw: str | None) -> float | None:
    if raw is None or raw.strip() in ("", "full"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"speed must be a number of steps per second, got {show(raw)}") from None
    if not (math.isfinite(value) and PACE_MIN <= value <= PACE_MAX):
        allowed = f"from {PACE_MIN:g} to {PACE_MAX:g} steps/s"
        raise ValueError(f"speed must be {allowed}, got {show(raw)}")
    return value


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


def run_losses(history: list, run: dict) -> tuple[float, float] | None:
    """The smoothed loss at a run's first and last step, from the step-ordered
    ``(step, loss, smooth)`` rows: like with like, not one noisy loss against an average."""
    lo = bisect.bisect_right(history, run["start_step"], key=itemgetter(0))
    hi = bisect.bisect_right(history, run["step"], key=itemgetter(0))
    return (history[lo][2], history[hi - 1][2]) if hi > lo else None


def summary_view(state: dict, run: dict | None, losses: tuple[float, float] | None):
    """The short report of a finished run (or of one that diverged), or None. ``losses``: the
    smoothed loss at the run's first and last step."""
    if run and run["status"] == "diverged":
        return {"diverged": True, "message": run.get("reason") or "the run diverged"}
    if not run or run["status"] != "done" or losses is None:
        return None
    first, last = losses
    v = state["config"]["vocab_size"]
    uniform = uniform_loss(v)
    seconds = run.get("elapsed") or 0.0
    if seconds <= 0 and run.get("ended_at"):
        seconds = run["ended_at"] - run["started_at"]
    # judged as shown (two decimals), so the words never contradict the numbers beside them
    fell = run["steps"] > 1 and round(last, 2) < round(first, 2)
    return {
        "steps": run["steps"],
        "time": duration(seconds) if seconds > 0 else "–",
        "rate": f"{run['steps'] / seconds:.1f} steps/s" if seconds > 0 else "–",
        "first_smooth": first,
        "last_smooth": last,
        "fell": fell,
        "vocab_size": v,
        "uniform": uniform,
        "learned": fell and last < uniform,
        "docs": doc_word(state),
    }


def run_summary(service: RunService, state: dict) -> dict | None:
    run = state.get("segment")
    if run and run["status"] == "diverged":
        return summary_view(state, run, None)
    if not run or run["status"] != "done":
        return None
    return summary_view(state, run, run_losses(service.history, run))


def current_probe(service: RunService, state: dict) -> dict:
    """The probe card's bars from the service's current weights (a fraction of a ms)."""
    probs = service.predictor().distribution(probe_prefix(state))
    return probe_view(state, probs, service.predictor_step)


def probe_view(state: dict, probs: list[float], step: int) -> dict:
    prefix = probe_prefix(state)
    p0 = initial_distribution(state["seed"], prefix, len(probs))
    return dist_view(prefix, probs, p0, state["vocab"], step)


def greedy_view(prefix: str, greedy: str) -> dict:
    """The greedy completion split into what was typed and what the model adds."""
    return {"typed": prefix, "added": greedy[len(prefix) :], "text": greedy}


def predict_view(service: RunService, prefix: str, snapshot=None) -> dict:
    """Bars, top 5 and attention for a prefix, or the engine's message about it; ``snapshot``:
    the weights to answer from (a past step's), default the newest."""
    try:
        out = service.predict(prefix, snapshot=snapshot)
    except ServiceError as e:
        return {"error": e.detail, "prefix": prefix}
    prefix = out.prefix  # as the model read it ("Em" is "em" for a lower-case vocabulary)
    state = service.state()
    p0 = initial_distribution(state.seed, prefix, len(out.probs))
    return {
        "error": None,
        "prefix": prefix,
        "greedy": greedy_view(prefix, out.greedy),
        "dist": dist_view(prefix, out.probs, p0, out.vocab, out.step),
        **attention_view(out.tokens, out.attention),
    }


def samples_view(
    names: list[str], temperature: float, step: int, documents: frozenset[str], state: dict
) -> dict:
    """The samples, each marked as one of the model's own training documents or new."""
    rows = [{"name": n or "(empty)", "known": n in documents} for n in names]
    known = sum(r["known"] for r in rows)
    return {
        "error": None,
        "names": rows,
        "known": known,
        "new": len(rows) - known,
        "temperature": temperature,
        "step": step,
        "names_dataset": state["dataset"] == "names",
        "docs": doc_word(state),
    }


def empty_samples(state: dict) -> dict:
    return {"names": [], "error": None, "names_dataset": state["dataset"] == "names"}


# ---------- viewing a past step ----------


def parse_step(raw: str | None) -> int | None:
    """The ``step`` a page or fragment asks about: empty or absent is live (None); else
    BadInput, like a step outside the history, so callers handle one kind of refusal."""
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise BadInput(f"step must be a whole number, got {show(raw)}") from None


async def snapshot_for(service: RunService, raw: str | None):
    """The weights a fragment answers from: step ``raw``'s, or None (the newest)."""
    step = parse_step(raw)
    return None if step is None else await service.snapshot_at(step)


def multiples(service: RunService, state: dict) -> dict | None:
    prefix = probe_prefix(state)
    line = service.probe_line(prefix)
    return multiples_view(prefix, line, state["vocab"], service.weights_from, state["step"])


async def past_views(service: RunService, state: dict, step: int) -> dict:
    """Everything a page viewing ``step`` shows of it, or BadInput/ServiceError."""
    event = await service.step_at(step)
    c = state["config"]
    recipe = None
    if event is not None:
        recipe = {**recipe_view(event, state["num_params"], c["block_size"]), "past": True}
    probs = await service.distribution_at(probe_prefix(state), step)
    return {
        "view": {
            "step": step,
            "newest": state["step"],
            "lo": service.weights_from,
            "ui": ui_base(state),
        },
        "view_recipe": recipe,
        "past_start": None if event is not None else step,
        "view_probe": {**probe_view(state, probs, step), "past": True},
        "view_probe_text": probe_text({**state, "step": step}),
    }


def view_partials(views: dict) -> list[str]:
    return [
        partial("view-bar", render("view_bar", view=views["view"]), "innerHTML"),
        partial(
            "recipe-view",
            render("recipe", recipe=views["view_recipe"], past_start=views["past_start"]),
            "innerHTML",
        ),
        partial(
            "dist-view",
            render("dist", d=views["view_probe"])
            + render("probe_explain", probe_text=views["view_probe_text"]),
            "innerHTML",
        ),
    ]


@ui.get("/view", response_class=HTMLResponse)
async def ui_view(
    service: ServiceDep, step: str | None = None, prefix: str | None = None
) -> HTMLResponse:
    """The panels as they were at ``step``: the view bar, the recipe and the probe card, and
    "Ask the model" for ``prefix`` when given. A bad step: only the bar, saying why."""
    state = service.state().model_dump(mode="json")
    try:
        k = parse_step(step)
        if k is None:
            raise BadInput(f"step must be a whole number, got {show(step)}")
        views = await past_views(service, state, k)
    except ServiceError as e:
        bar = render("view_bar", view_error=e.detail)
        return HTMLResponse(partial("view-bar", bar, "innerHTML"))
    parts = view_partials(views)
    if prefix is not None:
        snapshot = await service.snapshot_at(k)
        predict = await asyncio.to_thread(predict_view, service, prefix, snapshot)
        parts.append(partial("predict", render("predict", predict=predict), "innerHTML"))
    return HTMLResponse("".join(parts))


@ui.get("/multiples", response_class=HTMLResponse)
async def ui_multiples(service: ServiceDep) -> HTMLResponse:
    state = service.state().model_dump(mode="json")
    return HTMLResponse(render("multiples", multiples=multiples(service, state)))


# ---------- the page ----------


def render(name: str, **context: Any) -> str:
    return templates.get_template(f"partials/{name}.html").render(**context)


def partial(target: str, body: str, swap: str = "innerMorph") -> str:
    return f'<hx-partial hx-target="#{target}" hx-swap="{swap}">{body}</hx-partial>'


def model_fragments(state: dict) -> list[str]:
    """What follows the model (an upload may bring another vocabulary, context or dataset):
    the facts chips (which also tell the chart the vocabulary size) and the loss card's texts."""
    model = model_view(state)
    return [
        partial("model-facts", render("model_facts", model=model), "outerHTML"),
        partial("loss-hint", render("loss_hint", model=model), "innerHTML"),
        partial("loss-empty", render("loss_empty", model=model), "innerHTML"),
    ]


def prefix_input(state: dict) -> str:
    """The prefix box itself, for a new model (its maxlength follows the context): a morph
    keeps what the user typed and the focus."""
    return partial(
        "prefix",
        render("prefix_input", model=model_view(state), prefix=DEFAULT_PREFIX),
        "outerMorph",
    )


@router.get("/", response_class=HTMLResponse)
async def index(
    request: Request,
    runs: RunsDep,
    service: ServiceDep,
    step: str | None = None,
    run: str | None = None,
) -> HTMLResponse:
    """The page of the default run, live; with ``?run=ID``, of that run (which becomes the
    default); with ``?step=k``, viewing step k (a link to a moment)."""
    return await run_page(request, runs, service, step, run)


@router.get("/runs/new", response_class=HTMLResponse)
async def preset(
    request: Request, runs: RunsDep, service: ServiceDep, fields: Annotated[RunFields, Query()]
) -> HTMLResponse:
    """A shareable preset: the page with the new-run form open and filled in from the query
    (``/runs/new?lr=0.05&n_layer=2``); a bad value is named in the form. Nothing is created
    until Create run is pressed."""
    typed = {k: v for k, v in fields.model_dump().items() if v not in (None, "")}
    shown = {**{k: getattr(RunIn(), k) for k in LIMITS}, **typed}
    try:
        spec, error = parse_form(typed)[0], None
    except ValueError as e:
        spec, error = RunIn(), str(e)
    form = new_run_form(spec, shown, error)
    return await run_page(request, runs, service, None, None, {**form, "open": True})


async def run_page(
    request: Request,
    runs: Runs,
    service: RunService,
    step: str | None,
    run: str | None,
    new_run: dict | None = None,
) -> HTMLResponse:
    run_error = None
    try:
        if run not in (None, ""):
            service = await runs.select(parse_int(run, "run", 1, 2**31))
    except (ValueError, ServiceError) as e:
        run_error = getattr(e, "detail", None) or str(e)
    state = service.state().model_dump(mode="json")
    views = {"view": None, "view_recipe": None, "view_probe": None, "past_start": None}
    snapshot, view_error = None, None
    try:
        k = parse_step(step)
        if k is not None:
            views = await past_views(service, state, k)
            snapshot = await service.snapshot_at(k)
    except ServiceError as e:
        view_error = e.detail
    step = service.last_step
    # a few ms of pure Python (the greedy completion runs the model up to 8 times)
    predict = await asyncio.to_thread(predict_view, service, DEFAULT_PREFIX, snapshot)
    context = {
        **views,
        "view_error": view_error,
        "timeline": {"lo": service.weights_from, "newest": state["step"]},
        "multiples": multiples(service, state),
        "model": model_view(state),
        "status": status_view(state),
        "progress": progress_from(state, step),
        "recipe": recipe_view(step, state["num_params"], state["config"]["block_size"])
        if step
        else None,
        "trained_steps": state["step"],
        "probe_text": probe_text(state),
        "probe": current_probe(service, state),
        "vocab_hint": vocab_hint(state),
        "pace": pace_view(state),
        "prefix": DEFAULT_PREFIX,
        "predict": predict,
        "temperature": DEFAULT_TEMPERATURE,
        "samples": empty_samples(state),
        "summary": run_summary(service, state),
        "message": None,
        "notice": state["notice"],
        "run_error": run_error,
        "run": {"id": service.id, "name": service.name},
        "runs": runs_view(runs, service.id),
        "new_run": new_run or new_run_form(RunIn()),
        "ui": ui_base(state),
        "api": f"/api/runs/{service.id}",
        "parent": parent_of(runs, service),
        "klass": class_bar(
            request, request.app.state.classes, service.id, request.query_params.get("projector")
        ),
    }
    return templates.TemplateResponse(request, "index.html", context)


def parent_of(runs: Runs, service: RunService) -> dict | None:
    """The run ``service`` was forked from, and the step, while that run exists: the run bar
    links it and the loss chart draws its curve up to the fork in a lighter tone."""
    rs = service.run_settings
    parent = runs.services.get(rs.get("parent"))
    if parent is None:
        return None
    return {"id": parent.id, "name": parent.name, "step": rs["parent_step"]}


# ---------- fragments on request ----------


@ui.get("/predict", response_class=HTMLResponse)
async def ui_predict(
    service: ServiceDep, prefix: str = "", step: str | None = None
) -> HTMLResponse:
    """ "Ask the model" for ``prefix``: now, or at ``step`` (empty: now)."""
    try:
        snapshot = await snapshot_for(service, step)
    except ServiceError as e:
        return HTMLResponse(render("predict", predict={"error": e.detail, "prefix": prefix}))
    predict = await asyncio.to_thread(predict_view, service, prefix, snapshot)
    return HTMLResponse(render("predict", predict=predict))


@ui.get("/samples", response_class=HTMLResponse)
async def ui_samples(
    service: ServiceDep, temperature: str = "0.5", step: str | None = None
) -> HTMLResponse:
    """Ten samples at ``temperature``: from the newest weights, or step ``step``'s."""
    try:
        t = float(temperature)
        if not MIN_TEMPERATURE <= t <= MAX_TEMPERATURE:  # also refuses nan
            raise ValueError
    except ValueError:
        msg = (
            f"temperature must be a number from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}, "
            f"got {show(temperature)}"
        )
        return HTMLResponse(render("samples", samples={"error": msg}))
    try:
        snapshot = await snapshot_for(service, step)
        # ~50 ms of pure Python: off the event loop
        out = await asyncio.to_thread(service.samples, N_SAMPLES, t, None, snapshot)
    except ServiceError as e:
        return HTMLResponse(render("samples", samples={"error": e.detail}))
    state = service.state().model_dump(mode="json")
    view = samples_view(out.samples, t, out.step, service.documents, state)
    return HTMLResponse(render("samples", samples=view))


def controls(
    service: RunService, message: str | None = None, ask: dict | None = None
) -> HTMLResponse:
    """The Train card's buttons, the service's message, or a question (``ask``) in their place."""
    state = service.state().model_dump(mode="json")
    return HTMLResponse(render("controls", status=status_view(state), message=message, ask=ask))


def train_question(state: dict, steps: int, lr: str | None) -> dict:
    """Train while the run's segment can be resumed: continue it, or start a new segment (the
    suspended one ends; the model keeps every step it took)."""
    seg, status = state["segment"], state["status"]
    done = max(0, state["step"] - seg["start_step"])
    left = plural(seg["end_step"] - state["step"], "step")
    return {
        "kind": "train",
        "question": f"The {status} segment has done {done:,} of its {seg['steps']:,} steps.",
        "continue_label": f"Continue the {status} segment: {left} left",
        "new_label": f"Train {plural(steps, 'new step')} instead (the {status} segment ends)",
        "steps": steps,
        "lr": lr or "",
    }


@ui.get("/controls", response_class=HTMLResponse)
async def ui_controls(service: ServiceDep) -> HTMLResponse:
    """The buttons as they are now (Cancel on a question)."""
    return controls(service)


async def command(service: RunService, action) -> HTMLResponse:
    try:
        await action
    except ServiceError as e:
        return controls(service, e.detail)
    return controls(service)


def parse_int(raw: str | None, name: str, lo: int, hi: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        msg = f"{name} must be a whole number from {lo} to {hi:,}, got {show(raw)}"
        raise ValueError(msg) from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be from {lo} to {hi:,}, got {show(value)}")
    return value


def refusal(request: Request, service: RunService) -> str | None:
    """Why this browser may not control the run (a class student's, and not theirs), if so."""
    try:
        request.app.state.classes.check_control(service, identity(request))
    except ServiceError as e:
        return e.detail
    return None


@ui.post("/train", response_class=HTMLResponse)
async def ui_train(
    request: Request,
    service: ServiceDep,
    steps: Annotated[str | None, Form()] = None,
    lr: Annotated[str | None, Form()] = None,
    choice: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """Train N steps. With a run that can be continued, the page asks first (no ``choice``):
    ``continue`` resumes that run, ``new`` starts a new one (POST /api/train never asks)."""
    if why := refusal(request, service):
        return controls(service, why)
    try:
        n = DEFAULT_STEPS if steps in (None, "") else parse_int(steps, "steps", 1, MAX_STEPS)
        rate = None
        if lr not in (None, ""):
            rate = float(lr)
            if not (math.isfinite(rate) and 0 < rate <= 1):
                raise ValueError(f"learning rate must be in (0, 1], got {show(lr)}")
    except ValueError as e:
        msg = str(e) if "must" in str(e) else f"learning rate must be a number, got {show(lr)}"
        return controls(service, msg)
    if choice == "continue":
        return await command(service, service.resume())
    if choice not in (None, "", "new"):
        return controls(service, f"choice must be continue or new, got {show(choice)}")
    state = service.state().model_dump(mode="json")
    if not choice and state["status"] in RESUMABLE and state["segment"]:
        # the page asks first: a new run would end the one that can still be continued
        return controls(service, ask=train_question(state, n, lr))
    return await command(service, service.train(n, rate))


@ui.post("/pause", response_class=HTMLResponse)
async def ui_pause(request: Request, service: ServiceDep) -> HTMLResponse:
    if why := refusal(request, service):
        return controls(service, why)
    return await command(service, service.pause())


@ui.post("/resume", response_class=HTMLResponse)
async def ui_resume(request: Request, service: ServiceDep) -> HTMLResponse:
    if why := refusal(request, service):
        return controls(service, why)
    return await command(service, service.resume())


@ui.post("/step", response_class=HTMLResponse)
async def ui_step(request: Request, service: ServiceDep) -> HTMLResponse:
    if why := refusal(request, service):
        return controls(service, why)
    return await command(service, service.single_step())


@ui.post("/pace", response_class=HTMLResponse)
async def ui_pace(
    request: Request, service: ServiceDep, steps_per_sec: Annotated[str | None, Form()] = None
) -> HTMLResponse:
    """Set the speed cap; answers the speed menu (other tabs follow by the status event)."""
    message = refusal(request, service)
    try:
        if message is None:
            await service.set_pace(parse_pace(steps_per_sec))
    except ValueError as e:
        message = str(e)
    except ServiceError as e:
        message = e.detail
    state = service.state().model_dump(mode="json")
    return HTMLResponse(render("pace", pace=pace_view(state, message)))


@ui.post("/reset", response_class=HTMLResponse)
async def ui_reset(
    request: Request,
    runs: RunsDep,
    service: ServiceDep,
    seed: Annotated[str | None, Form()] = None,
) -> Response:
    """A new run with this run's settings (and the seed typed), as POST /api/reset; a plain
    form post, answered by a redirect to the new run's page. Nothing is lost: this run stays
    in the run list."""
    try:
        s = None if seed in (None, "") else parse_int(seed, "seed", L.SEED.lo, L.SEED.hi)
    except ValueError as e:
        return problem_page(str(e), service.id, 422)
    if s is not None:
        await asyncio.to_thread(initial_predictor, s)  # warm the ghost bars off the loop
    try:
        new = await runs.reset(service, s, by=identity(request))
    except ServiceError as e:
        return problem_page(e.detail, service.id, e.status_code)
    return go_to_run(request, new.id)


@ui.post("/fork", response_class=HTMLResponse)
async def ui_fork(
    request: Request,
    runs: RunsDep,
    service: ServiceDep,
    step: Annotated[str | None, Form()] = None,
) -> Response:
    """A new run from the step the page views, as POST /api/runs/{id}/fork, and its page; a
    step that cannot be forked is named in the view bar."""
    try:
        k = parse_step(step)
        if k is None:
            raise BadInput(f"step must be a whole number, got {show(step)}")
        service.check_step(k)  # a step outside the history, named with the range
        new = await runs.fork(service, ForkIn(step=k), by=identity(request))
    except ServiceError as e:
        return HTMLResponse(render("view_bar", view_error=e.detail), e.status_code)
    return go_to_run(request, new.id)


def problem_page(message: str, run_id: int, status: int) -> HTMLResponse:
    """What a plain form post that was refused answers: the reason and the way back."""
    body = render("problem", message=message, run_id=run_id)
    return HTMLResponse(templates.get_template("problem.html").render(body=body), status)


@ui.post("/checkpoint", response_class=HTMLResponse)
async def ui_checkpoint(request: Request, runs: RunsDep, service: ServiceDep) -> Response:
    """Load an uploaded checkpoint (the form field ``file``) as a new run, as POST
    /api/checkpoint does, and open that run's page; or the service's message about the file,
    in the form (nothing was stored)."""
    try:
        new = await runs.upload(await checkpoint_upload(request), service)
    except ServiceError as e:
        return HTMLResponse(render("upload", error=e.detail))
    return go_to_run(request, new.id)


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
        state = service.state()
        self.model = state.model
        self.last_render = self.last_refresh = self.last_multiples = 0.0
        self.step: StepEvent | None = service.last_step  # the stream's latest step event
        self.pace = pace  # the speed the stream's menu shows (unknown, ``...``: render it)

    def __call__(self, event: Event) -> list[ServerSentEvent]:
        handler = getattr(self, f"on_{event.name}", None)
        return handler(event.payload) if handler else []

    def html(self, *parts: str) -> ServerSentEvent:
        return ServerSentEvent(data="".join(parts))

    def on_validation(self, d: ValidationEvent) -> list[ServerSentEvent]:
        """The held-out loss at a step: a point of the chart's validation line."""
        point = {"step": d.step, "val": d.loss, "model": self.model}
        return [ServerSentEvent(data=json.dumps(point), event="val-point")]

    def on_step(self, d: StepEvent) -> list[ServerSentEvent]:
        self.step = d
        point = {"step": d.step, "loss": d.loss, "smooth": d.smooth, "model": self.model}
        # per-matrix gradient norms and update ratios
        point["health"] = [h.model_dump() for h in d.health]
        out = [ServerSentEvent(data=json.dumps(point), event="point")]
        now = time.monotonic()
        last = d.run_step >= d.run_steps
        walk = walk_time(d, self.service.pace)
        if walk or last or now - self.last_render >= FRAGMENT_INTERVAL:
            self.last_render = now
            out.append(self.html(*self.step_fragments(d, walk)))
            out.append(params_ready())
        if last or now - self.last_refresh >= REFRESH_INTERVAL:
            self.last_refresh = now
            out.append(ServerSentEvent(data="{}", event="model-updated"))
        if last or now - self.last_multiples >= MULTIPLES_INTERVAL:
            self.last_multiples = now
            out.append(self.html(self.multiples_fragment()))
        return out

    def multiples_fragment(self, state: dict | None = None) -> str:
        view = multiples(self.service, state or self.state())
        return partial("multiples", render("multiples", multiples=view), "innerHTML")

    def step_fragments(self, d: StepEvent, walk: float = 0.0) -> list[str]:
        state = self.state()
        prefix = probe_prefix(state)
        probs = next((p.probs for p in d.probes if p.prefix == prefix), None)
        recipe = recipe_view(d, state["num_params"], state["config"]["block_size"], walk)
        parts = [
            partial("progress", render("progress", progress=progress_from(state, d))),
            partial("recipe", render("recipe", recipe=recipe)),
        ]
        if probs is not None:
            parts.append(partial("dist", render("dist", d=probe_view(state, probs, d.step))))
        return parts

    def state(self) -> dict:
        return self.service.state().model_dump(mode="json")

    def on_status(self, status: StateOut) -> list[ServerSentEvent]:
        state = status.model_dump(mode="json")  # as the page's views read it
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

    def on_done(self, d: DoneEvent) -> list[ServerSentEvent]:
        state = self.state()
        segment = d.segment.model_dump(mode="json")  # as the summary's view reads it
        losses = run_losses(self.service.history, segment)
        summary = summary_view(state, segment, losses)
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
        state = self.state()
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


@ui.get("/events", response_class=EventSourceResponse)
async def ui_events(request: Request, service: ServiceDep) -> EventSourceResponse:
    """The page's one stream: bus events rendered as HTML fragments for htmx, once per event
    for every page watching the run (the same bytes to each)."""
    return service_stream(request, service, shared=shared_render(service))
