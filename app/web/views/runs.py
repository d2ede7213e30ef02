"""The run bar's views: the list of runs, the new-run form (with its parameter count and time
estimate), and a run's rename/delete box."""

from dataclasses import dataclass, replace
from functools import lru_cache

from app.contract.api import CompareOut, DatasetText, RunIn, RunOut
from app.runs.checkpoints import shipped_names
from app.runs.estimates import estimate_step_seconds
from app.runs.registry import Runs
from app.runs.service import RunService
from app.templating import duration
from app.web.forms import RUN_SETTINGS
from engine import GPTConfig
from engine.data import EXAMPLES, load_example
from engine.model import num_params

EXAMPLE_WORDS = {"elements": "chemical elements", "countries": "countries", "states": "US states"}
NAMES_VOCAB = 27  # a..z and [BOS]


def shape_text(n_embd: int, n_head: int, n_layer: int, block_size: int) -> str:
    layers = "layer" if n_layer == 1 else "layers"
    return f"{n_embd} wide · {n_head} heads · {n_layer} {layers} · context {block_size}"


@dataclass(frozen=True)
class RunRow:
    id: int
    name: str
    status: str
    queue: int | None
    step: int
    loss: str | None
    shape: str
    num_params: int
    lr: str
    seed: int
    current: bool


@dataclass(frozen=True)
class RunsView:
    rows: list[RunRow]
    current: int
    workers: int
    training: int
    queued: int

    @property
    def count(self) -> int:
        return len(self.rows)


def runs_view(runs: Runs, current: int) -> RunsView:
    listing = runs.listing()
    rows = [
        RunRow(
            id=r.id,
            name=r.name,
            status=r.status,
            queue=r.queue_position,
            step=r.step,
            loss=None if r.loss is None else f"{r.loss:.3f}",
            shape=shape_text(r.n_embd, r.n_head, r.n_layer, r.block_size),
            num_params=r.num_params,
            lr=f"{r.lr:g}",
            seed=r.seed,
            current=r.id == current,
        )
        for r in listing.runs
    ]
    return RunsView(
        rows=rows,
        current=current,
        workers=listing.workers,
        training=sum(1 for r in listing.runs if r.status == "training"),
        queued=len(listing.queue),
    )


@lru_cache
def dataset_choices() -> list[tuple[str, str]]:
    """The new-run form's data choices: the names, each example (its size read from its
    file), or a list of one's own."""
    examples = [(n, f"{len(load_example(n)):,} {EXAMPLE_WORDS[n]}") for n in EXAMPLES]
    names = f"{shipped_names()[1]:,} names (microgpt's)"
    return [("names", names), *examples, ("own", "my own list…")]


@lru_cache
def example_vocab(name: str) -> int:
    return len(set("".join(load_example(name)))) + 1


def vocab_of(spec: RunIn) -> int | None:
    """The vocabulary the run will have (None: its own text's, not known before it is read)."""
    if isinstance(spec.dataset, DatasetText):
        return None
    return NAMES_VOCAB if spec.dataset == "names" else example_vocab(spec.dataset)


@dataclass(frozen=True)
class Estimate:
    num_params: int
    step_ms: int
    run: str  # the whole segment's time
    steps: int
    vocab: int | None


def estimate(spec: RunIn) -> Estimate:
    vocab = vocab_of(spec)
    config = GPTConfig(
        vocab_size=vocab or NAMES_VOCAB,
        n_embd=spec.n_embd,
        n_head=spec.n_head,
        n_layer=spec.n_layer,
        block_size=spec.block_size,
    )
    per_step = estimate_step_seconds(config)
    return Estimate(
        num_params=num_params(config),
        step_ms=max(1, round(per_step * 1000)),
        run=duration(per_step * spec.steps),
        steps=spec.steps,
        vocab=vocab,
    )


@dataclass(frozen=True)
class RunForm:
    """The new-run form: what is typed in it (strings), its choices, estimate and error."""

    typed: dict[str, object]
    datasets: list[tuple[str, str]]
    estimate: Estimate
    error: str | None = None
    open: bool = False  # shown open (a preset link)


def new_run_form(spec: RunIn, values: dict | None = None, error: str | None = None) -> RunForm:
    values = values or {k: getattr(spec, k) for k in RUN_SETTINGS}
    typed = {"dataset": "names", "text": "", **values, "name": values.get("name") or ""}
    return RunForm(typed, dataset_choices(), estimate(spec), error)


def preset_form(typed: dict[str, str], spec: RunIn, error: str | None) -> RunForm:
    """The form a preset link opens: what it typed over microgpt's defaults."""
    shown = {**{k: getattr(RunIn(), k) for k in RUN_SETTINGS}, **typed}
    return replace(new_run_form(spec, shown, error), open=True)


@dataclass(frozen=True)
class ComparePage:
    """The compare page: every run (to pick from), the ones chosen, their curves or why not."""

    all: list[RunOut]
    chosen: list[int]
    data: CompareOut | None
    error: str | None
    query: str  # the chosen runs as a query string, for /api/compare


@dataclass(frozen=True)
class ManageView:
    """Rename and delete for one run; ``ask``: the delete question in the button's place."""

    id: int
    name: str
    step: int
    status: str
    message: str | None = None
    ask: bool = False


def manage_view(service: RunService, message: str | None = None, ask: bool = False) -> ManageView:
    return ManageView(service.id, service.name, service.step, service.status, message, ask)
