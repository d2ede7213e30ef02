"""What the model says, as the page shows it: the 27 bars (over the untrained model's ghost),
"Ask the model" (bars, greedy completion, attention), samples, and the small multiples.

Display values only (percentages as text, bar heights, colours): the templates do no arithmetic.
"""

import bisect
from dataclasses import dataclass, field, replace
from functools import lru_cache

from app.runs.errors import ServiceError
from app.runs.service import RunService
from app.templating import pct, short_label, viridis
from engine import EngineError, Predictor, Trainer

PROBE = "e"  # the prefix whose distribution rides on the stream (settings.probes has it)
FALLBACK_PROBE = ""  # for a model whose vocabulary has no "e": how names start
MULTIPLES = (0.0, 0.1, 0.25, 0.5, 1.0)  # of the history: where the small multiples stand
TOP = 5  # characters listed beside the bars


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


def nice_max(p: float) -> float:
    """The bars' scale: the smallest round share at or above ``p``."""
    for v in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if p <= v:
            return v
    return 1.0


@dataclass(frozen=True)
class Bar:
    label: str
    short: str  # ⏎ for [BOS]
    h: float  # height, % of the scale
    h0: float  # the ghost's (the untrained model's)
    pct: str
    pct0: str
    top: bool  # one of the three likeliest


@dataclass(frozen=True)
class TopChar:
    label: str
    pct: str
    w: float  # width, % of the likeliest


@dataclass(frozen=True)
class DistView:
    """27 bars (now over the step-0 ghost) on a shared, nicely rounded scale, and the top 5."""

    prefix: str
    prefix_label: str
    step: int
    bars: list[Bar]
    scale_label: str
    mid_label: str
    top: list[TopChar]
    past: bool = False  # of a step viewed in time travel


def dist_view(
    prefix: str, probs: list[float], probs0: list[float] | None, vocab: list[str], step: int
) -> DistView:
    probs0 = probs0 or [0.0] * len(probs)
    top = sorted(range(len(probs)), key=lambda i: -probs[i])[:TOP]
    scale = nice_max(max(max(probs), max(probs0)))
    bars = [
        Bar(
            label=vocab[i],
            short=short_label(vocab[i]),
            h=round(100 * probs[i] / scale, 2),
            h0=round(100 * probs0[i] / scale, 2),
            pct=pct(probs[i]),
            pct0=pct(probs0[i]),
            top=i in top[:3],
        )
        for i in range(len(probs))
    ]
    best = probs[top[0]] or 1.0
    return DistView(
        prefix=prefix,
        prefix_label=f"“{prefix}”" if prefix else "the start of a name ([BOS])",
        step=step,
        bars=bars,
        scale_label=f"{scale * 100:.0f}%",
        mid_label=f"{scale * 50:.1f}%".replace(".0%", "%"),
        top=[TopChar(vocab[i], pct(probs[i]), round(100 * probs[i] / best, 1)) for i in top],
    )


def probe_prefix(state: dict) -> str:
    """The prefix the probe card follows: "e", or how names start when the model's vocabulary
    has no "e" (a checkpoint trained on other documents)."""
    return PROBE if PROBE in state["probes"] else FALLBACK_PROBE


def probe_view(state: dict, probs: list[float], step: int, past: bool = False) -> DistView:
    prefix = probe_prefix(state)
    p0 = initial_distribution(state["seed"], prefix, len(probs))
    return replace(dist_view(prefix, probs, p0, state["vocab"], step), past=past)


def current_probe(service: RunService, state: dict) -> DistView:
    """The probe card's bars from the service's current weights (a fraction of a ms)."""
    probs = service.predictor().distribution(probe_prefix(state))
    return probe_view(state, probs, service.predictor_step)


@dataclass(frozen=True)
class Cell:
    bg: str
    pct: str


@dataclass(frozen=True)
class AttentionView:
    """Layer 0's heads as grids of cells (None above the diagonal: a position can't look
    ahead)."""

    labels: list[str]
    short: list[str]
    heads: list[list[list[Cell | None]]]


def attention_view(labels: list[str], attention: list) -> AttentionView:
    n = len(labels)
    heads = []
    for head in attention[0] if attention else []:
        rows = []
        for q in range(n):
            row: list[Cell | None] = []
            for k in range(n):
                if k > q or q >= len(head) or k >= len(head[q]):
                    row.append(None)
                else:
                    row.append(Cell(viridis(head[q][k])[0], pct(head[q][k])))
            rows.append(row)
        heads.append(rows)
    return AttentionView(labels, [short_label(x) for x in labels], heads)


@dataclass(frozen=True)
class Greedy:
    """The greedy completion split into what was typed and what the model adds."""

    typed: str
    added: str
    text: str


@dataclass(frozen=True)
class PredictView:
    """ "Ask the model": bars, top 5 and attention for a prefix, or the message about it."""

    prefix: str
    error: str | None = None
    greedy: Greedy | None = None
    dist: DistView | None = None
    attention: AttentionView | None = None

    # the attention grid's names, as the partial reads them
    @property
    def labels(self) -> list[str]:
        return self.attention.labels if self.attention else []

    @property
    def short(self) -> list[str]:
        return self.attention.short if self.attention else []

    @property
    def heads(self) -> list:
        return self.attention.heads if self.attention else []


def predict_view(service: RunService, prefix: str, snapshot=None) -> PredictView:
    """``snapshot``: the weights to answer from (a past step's), default the newest."""
    try:
        out = service.predict(prefix, snapshot=snapshot)
    except ServiceError as e:
        return PredictView(prefix=prefix, error=e.detail)
    prefix = out.prefix  # as the model read it ("Em" is "em" for a lower-case vocabulary)
    p0 = initial_distribution(service.state().seed, prefix, len(out.probs))
    return PredictView(
        prefix=prefix,
        greedy=Greedy(prefix, out.greedy[len(prefix) :], out.greedy),
        dist=dist_view(prefix, out.probs, p0, out.vocab, out.step),
        attention=attention_view(out.tokens, out.attention),
    )


@dataclass(frozen=True)
class Sample:
    name: str
    known: bool  # one of the model's own training documents


@dataclass(frozen=True)
class SamplesView:
    names: list[Sample] = field(default_factory=list)
    error: str | None = None
    names_dataset: bool = True  # the shipped names (else "documents")
    known: int = 0
    new: int = 0
    temperature: float | None = None
    step: int | None = None


def samples_view(
    names: list[str], temperature: float, step: int, documents: frozenset[str], state: dict
) -> SamplesView:
    """The samples, each marked as one of the model's own training documents or new."""
    rows = [Sample(n or "(empty)", n in documents) for n in names]
    known = sum(r.known for r in rows)
    return SamplesView(
        names=rows,
        known=known,
        new=len(rows) - known,
        temperature=temperature,
        step=step,
        names_dataset=state["dataset"] == "names",
    )


def empty_samples(state: dict) -> SamplesView:
    return SamplesView(names_dataset=state["dataset"] == "names")


@dataclass(frozen=True)
class Best:
    label: str
    pct: str


@dataclass(frozen=True)
class Multiple:
    step: int
    share: str  # of the history, "25%"
    bars: list[float]
    best: Best


@dataclass(frozen=True)
class MultiplesView:
    """The probe's distribution at 0, 10, 25, 50 and 100% of the history (the kept step at or
    before each), on one scale so that they compare; and the line's default character."""

    prefix: str
    prefix_label: str
    items: list[Multiple]
    scale: str
    vocab: list[str]
    top: str | None
    newest: int


def multiples_view(
    prefix: str, line: tuple[list[int], list], vocab: list[str], lo: int, newest: int
) -> MultiplesView:
    steps, dists = line
    shown: list[tuple[int, str, list[float]]] = []
    for f in MULTIPLES:
        i = bisect.bisect_right(steps, lo + round(f * (newest - lo))) - 1
        if i >= 0 and all(s != steps[i] for s, _, _ in shown):
            shown.append((steps[i], f"{f:.0%}", dists[i]))
    scale = nice_max(max((max(probs) for _, _, probs in shown), default=1.0))
    items = []
    for step, share, probs in shown:
        best = max(range(len(probs)), key=probs.__getitem__)
        bars = [round(100 * p / scale, 1) for p in probs]
        items.append(Multiple(step, share, bars, Best(vocab[best], pct(probs[best]))))
    last = dists[-1] if dists else None
    return MultiplesView(
        prefix=prefix,
        prefix_label=f"“{prefix}”" if prefix else "[BOS]",
        items=items,
        scale=f"{scale * 100:.0f}%",
        vocab=vocab,
        top=vocab[max(range(len(last)), key=last.__getitem__)] if last else None,
        newest=newest,
    )


def multiples(service: RunService, state: dict) -> MultiplesView:
    prefix = probe_prefix(state)
    line = service.probe_line(prefix)
    return multiples_view(prefix, line, state["vocab"], service.weights_from, state["step"])
