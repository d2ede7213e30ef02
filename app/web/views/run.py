"""A run's state as the page shows it: the status pill and which buttons make sense, the model's
facts, the probe card's words, the speed menu, the progress bar, the finished run's report and
the question Train asks beside a paused segment.

Each view is built from the run's state (``StateOut`` dumped to a dict, as the stream has it).
"""

import bisect
from dataclasses import dataclass
from operator import itemgetter

from app import limits as L
from app.lesson.milestones import Milestone
from app.lesson.story import run_memorised
from app.runs.service import RunService
from app.templating import duration, pct, plural, uniform_loss
from app.web.views.model import PROBE, probe_prefix

PACES = (None, 20.0, 5.0, 1.0)  # the speed menu, steps/s (None: full speed)
# Below this many steps the "e" guess has barely left the untrained one (seed 42, lr 0.01:
# a total-variation distance of 0.16 from it at step 10, ~0.4 from step 25 on)
EARLY_STEPS = 50
STATUS_LABELS = {
    "training": "training",
    "paused": "paused",
    "interrupted": "interrupted: resume to continue",
    "failed": "failed: resume from the last checkpoint",
}


def ui_base(state: dict) -> str:
    """Where the page's fragments of this run are: every form posts to its own run."""
    return f"/ui/runs/{state['id']}"


def doc_word(state: dict, n: int = 2) -> str:
    """What the model's documents are called: names (the shipped dataset) or documents."""
    word = "name" if state.get("dataset", "names") == "names" else "document"
    return word if n == 1 else word + "s"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def queued_label(state: dict) -> str:
    """ "queued · 2nd in line · ~40 s": where the run waits for a worker, and how long."""
    pos, wait = state.get("queue_position"), state.get("queue_wait")
    label = "queued · waiting for a worker"
    if pos:
        label = f"queued · {ordinal(pos)} in line"
    if wait is not None:
        label += f" · starts in ~{duration(wait)}"
    return label


@dataclass(frozen=True)
class StatusView:
    """The status pill and which buttons make sense now (the service still has the last say)."""

    ui: str
    state: str
    label: str
    step: int
    seed: int
    lr: float
    default_steps: int  # what Train trains: the run's steps setting
    can_train: bool
    can_pause: bool
    can_resume: bool  # paused by request, or cut off by a restart or a crash
    can_step: bool
    can_reset: bool = True  # a new run: this one is kept, training or not


def status_label(state: dict) -> str:
    s, segment = state["status"], state.get("segment") or {}
    if s == "idle" and segment.get("status") == "diverged":
        return f"diverged · back at step {state['step']:,}"
    if s == "idle":
        return "ready · untrained" if state["step"] == 0 else f"ready · {state['step']:,} steps"
    if s == "queued":
        return queued_label(state)
    return STATUS_LABELS.get(s, s)


def status_view(state: dict) -> StatusView:
    s = state["status"]
    busy = s in ("training", "queued")
    return StatusView(
        ui=ui_base(state),
        state=s,
        label=status_label(state),
        step=state["step"],
        seed=state["seed"],
        lr=state["lr"],
        default_steps=state.get("steps") or L.STEPS.default,
        can_train=not busy,
        can_pause=busy,
        can_resume=s in ("paused", "interrupted", "failed") and bool(state.get("segment")),
        can_step=not busy,
    )


@dataclass(frozen=True)
class ModelView:
    """The model-facts chips, the uniform-guess level and the prefix box's limit."""

    ui: str
    num_params: int
    step: int
    vocab_size: int
    block_size: int
    max_prefix: int  # the context less [BOS]
    n_layer: int
    n_head: int
    n_embd: int
    dataset: str
    num_docs: int
    doc_word: str
    held_out: int
    uniform_loss: float
    uniform_pct: str


def model_view(state: dict) -> ModelView:
    c = state["config"]
    v = c["vocab_size"]
    return ModelView(
        ui=ui_base(state),
        num_params=state["num_params"],
        step=state["step"],
        vocab_size=v,
        block_size=c["block_size"],
        max_prefix=c["block_size"] - 1,
        n_layer=c["n_layer"],
        n_head=c["n_head"],
        n_embd=c["n_embd"],
        dataset=state["dataset"],
        num_docs=state["num_docs"],
        doc_word=doc_word(state, state["num_docs"]),
        held_out=state.get("held_out", 0),
        uniform_loss=uniform_loss(v),
        uniform_pct=pct(1 / v),
    )


@dataclass(frozen=True)
class ProbeText:
    """The probe card's heading and explanation: which prefix it follows and what training
    has done to the guess so far (the text follows the model's step)."""

    prefix: str
    title: str
    missing: str | None  # "e", when the vocabulary has none and the card follows another
    vocab_size: int
    uniform_pct: str
    docs: str
    step: int
    stage: str  # untrained / early (barely moved from the untrained guess) / trained


def probe_text(state: dict) -> ProbeText:
    prefix = probe_prefix(state)
    v, step = state["config"]["vocab_size"], state["step"]
    return ProbeText(
        prefix=prefix,
        title=f"What comes after “{prefix}”?" if prefix else "What comes first, after [BOS]?",
        missing=None if prefix == PROBE else PROBE,
        vocab_size=v,
        uniform_pct=pct(1 / v),
        docs=doc_word(state),
        step=step,
        stage="untrained" if step == 0 else "early" if step < EARLY_STEPS else "trained",
    )


def vocab_hint(state: dict) -> str:
    """What the prefix box accepts, from the model's vocabulary."""
    chars = [label for label in state["vocab"] if len(label) == 1]
    if "".join(chars) == "abcdefghijklmnopqrstuvwxyz":
        what = "letters a–z"
    else:
        what = "characters " + " ".join(chars[:40]) + (" …" if len(chars) > 40 else "")
    return f"{what}, up to {state['config']['block_size'] - 1}; empty asks how names start"


@dataclass(frozen=True)
class PaceOption:
    value: str  # "" for full speed
    label: str
    selected: bool


@dataclass(frozen=True)
class PaceView:
    """The speed menu with the run's pace selected (added to the menu if it is another)."""

    ui: str
    options: list[PaceOption]
    message: str | None = None


def pace_label(pace: float | None) -> str:
    if pace is None:
        return "full"
    return f"{pace:g} step/s" if pace == 1 else f"{pace:g} steps/s"


def pace_view(state: dict, message: str | None = None) -> PaceView:
    current = state.get("pace")
    paces = list(PACES)
    if current not in paces:
        paces = [None, *sorted([*PACES[1:], current], reverse=True)]
    options = [
        PaceOption("" if p is None else f"{p:g}", pace_label(p), p == current) for p in paces
    ]
    return PaceView(ui_base(state), options, message)


@dataclass(frozen=True)
class ProgressView:
    loss: float | None
    step: int
    run_step: int
    run_steps: int
    percent: int
    rate: str
    elapsed: str
    eta: str


def progress_view(
    step: int,
    run_step: int,
    run_steps: int,
    rate: float | None = None,
    elapsed: float | None = None,
    eta: float | None = None,
    loss: float | None = None,
) -> ProgressView:
    return ProgressView(
        loss=loss,
        step=step,
        run_step=run_step,
        run_steps=run_steps,
        percent=round(100 * run_step / run_steps) if run_steps else 0,
        rate=f"{rate:.1f} steps/s" if rate else "–",
        elapsed=duration(elapsed),
        eta=duration(eta) if eta is not None and run_step < run_steps else "–",
    )


def run_losses(history: list, run: dict) -> tuple[float, float] | None:
    """The smoothed loss at a run's first and last step, from the step-ordered
    ``(step, loss, smooth)`` rows: like with like, not one noisy loss against an average."""
    lo = bisect.bisect_right(history, run["start_step"], key=itemgetter(0))
    hi = bisect.bisect_right(history, run["step"], key=itemgetter(0))
    return (history[lo][2], history[hi - 1][2]) if hi > lo else None


@dataclass(frozen=True)
class Diverged:
    message: str
    diverged: bool = True


@dataclass(frozen=True)
class SummaryView:
    """The short report of a finished run."""

    steps: int
    time: str
    rate: str
    first_smooth: float
    last_smooth: float
    fell: bool
    vocab_size: int
    uniform: float
    learned: bool
    docs: str
    memorising: Milestone | None = None  # where the held-out loss turned up, if it has
    diverged: bool = False


def summary_view(
    state: dict,
    run: dict | None,
    losses: tuple[float, float] | None,
    memorising: Milestone | None = None,
) -> SummaryView | Diverged | None:
    """The report of a finished run (or of one that diverged), or None. ``losses``: the
    smoothed loss at the run's first and last step; ``memorising``: where the model began
    memorising its documents (app.lesson.milestones), if it has: the report says so rather
    than "learned something"."""
    if run and run["status"] == "diverged":
        return Diverged(run.get("reason") or "the run diverged")
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
    timed = seconds > 0
    return SummaryView(
        steps=run["steps"],
        time=duration(seconds) if timed else "–",
        rate=f"{run['steps'] / seconds:.1f} steps/s" if timed else "–",
        first_smooth=first,
        last_smooth=last,
        fell=fell,
        vocab_size=v,
        uniform=uniform,
        learned=fell and last < uniform,
        docs=doc_word(state),
        memorising=memorising,
    )


def run_summary(service: RunService, state: dict) -> SummaryView | Diverged | None:
    run = state.get("segment")
    if run and run["status"] == "diverged":
        return summary_view(state, run, None)
    if not run or run["status"] != "done":
        return None
    return summary_view(state, run, run_losses(service.history, run), run_memorised(service))


@dataclass(frozen=True)
class TrainQuestion:
    """Train while the run's segment can be resumed: continue it, or start a new segment (the
    suspended one ends; the model keeps every step it took)."""

    question: str
    continue_label: str
    new_label: str
    steps: int
    lr: str
    kind: str = "train"


def train_question(state: dict, steps: int, lr: str | None) -> TrainQuestion:
    seg, status = state["segment"], state["status"]
    done = max(0, state["step"] - seg["start_step"])
    left = plural(seg["end_step"] - state["step"], "step")
    return TrainQuestion(
        question=f"The {status} segment has done {done:,} of its {seg['steps']:,} steps.",
        continue_label=f"Continue the {status} segment: {left} left",
        new_label=f"Train {plural(steps, 'new step')} instead (the {status} segment ends)",
        steps=steps,
        lr=lr or "",
    )
