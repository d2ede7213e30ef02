"""Jinja2 for the page: one Templates object, and the small view models its partials render.

The view functions turn the service's contract (app.contract) into plain dicts of display values
(percentages as text, bar heights, colours), so the templates stay free of arithmetic.
"""

import bisect
import math

from fastapi.templating import Jinja2Templates

from app.contract.events import StepRecipe
from app.paths import TEMPLATES_DIR

BOS = "[BOS]"


def uniform_loss(vocab_size: int) -> float:
    """The loss of a uniform guess over the vocabulary: ln V (ln 27 ≈ 3.2958 for names)."""
    return math.log(vocab_size)


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["static"] = lambda path: f"/static/{path}"
templates.env.filters["thousands"] = lambda n: f"{int(n):,}"
templates.env.filters["sig"] = lambda x: f"{x:.3g}"


def plural(n: int, word: str) -> str:
    """``n`` with thousands separators and ``word``, plural unless n is 1: "1,200 steps"."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


templates.env.filters["plural"] = plural

# Viridis (matplotlib), 9 stops: perceptually uniform and colour-blind safe.
_VIRIDIS = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2D, 0x7B),
    (0x3B, 0x52, 0x8B),
    (0x2C, 0x72, 0x8E),
    (0x21, 0x91, 0x8C),
    (0x28, 0xAE, 0x80),
    (0x5E, 0xC9, 0x62),
    (0xAD, 0xDC, 0x30),
    (0xFD, 0xE7, 0x25),
]


def _luminance(rgb: tuple[int, ...]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    lin = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


_DARK_TEXT, _LIGHT_TEXT = (0, 0, 0), (0xFF, 0xFF, 0xFF)  # #111 would dip to 4.36:1 mid-scale


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """WCAG contrast ratio of two sRGB colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def viridis_rgb(t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t))
    x = t * (len(_VIRIDIS) - 1)
    i = min(int(x), len(_VIRIDIS) - 2)
    f = x - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(_VIRIDIS[i], _VIRIDIS[i + 1], strict=True))
    return r, g, b


def viridis(t: float) -> tuple[str, str]:
    """Background colour for t in [0, 1] and the text colour (near-black or white) that
    contrasts more with it (at least 4.5:1 everywhere on the scale)."""
    rgb = viridis_rgb(t)
    dark = contrast(rgb, _DARK_TEXT) >= contrast(rgb, _LIGHT_TEXT)
    return "rgb({} {} {})".format(*rgb), ("#000" if dark else "#fff")


def prob_colour(p: float) -> tuple[str, str]:
    # sqrt spreads the useful range (1–40 %) across the scale; 100 % is the brightest.
    return viridis(math.sqrt(max(0.0, p)))


def pct(p: float) -> str:
    """A probability as text: one decimal below 10 %, none above."""
    v = p * 100
    if v >= 9.95:
        return f"{v:.0f}%"
    if v >= 0.05:
        return f"{v:.1f}%"
    return "<0.1%"


def short_label(label: str) -> str:
    return "⏎" if label == BOS else label


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def _nice_max(p: float) -> float:
    for v in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if p <= v:
            return v
    return 1.0


def dist_view(
    prefix: str, probs: list[float], probs0: list[float] | None, vocab: list[str], step: int
) -> dict:
    """27 bars (now over the step-0 ghost) on a shared, nicely rounded scale, and the top 5."""
    probs0 = probs0 or [0.0] * len(probs)
    top = sorted(range(len(probs)), key=lambda i: -probs[i])[:5]
    scale = _nice_max(max(max(probs), max(probs0)))
    bars = [
        {
            "label": vocab[i],
            "short": short_label(vocab[i]),
            "h": round(100 * probs[i] / scale, 2),
            "h0": round(100 * probs0[i] / scale, 2),
            "pct": pct(probs[i]),
            "pct0": pct(probs0[i]),
            "top": i in top[:3],
        }
        for i in range(len(probs))
    ]
    best = probs[top[0]] or 1.0
    return {
        "prefix": prefix,
        "prefix_label": f"“{prefix}”" if prefix else "the start of a name ([BOS])",
        "step": step,
        "bars": bars,
        "scale_label": f"{scale * 100:.0f}%",
        "mid_label": f"{scale * 50:.1f}%".replace(".0%", "%"),
        "top": [
            {"label": vocab[i], "pct": pct(probs[i]), "w": round(100 * probs[i] / best, 1)}
            for i in top
        ],
    }


MULTIPLES = (0.0, 0.1, 0.25, 0.5, 1.0)  # of the history: where the small multiples stand


def multiples_view(
    prefix: str, line: tuple[list[int], list], vocab: list[str], lo: int, newest: int
) -> dict:
    """The probe's distribution at 0, 10, 25, 50 and 100% of the history (the kept step at or
    before each), on one scale so that they compare; and the line's default character."""
    steps, dists = line
    shown = []
    for f in MULTIPLES:
        i = bisect.bisect_right(steps, lo + round(f * (newest - lo))) - 1
        if i >= 0 and all(m["step"] != steps[i] for m in shown):
            shown.append({"step": steps[i], "share": f"{f:.0%}", "probs": dists[i]})
    scale = _nice_max(max((max(m["probs"]) for m in shown), default=1.0))
    for m in shown:
        probs = m.pop("probs")
        best = max(range(len(probs)), key=probs.__getitem__)
        m["bars"] = [round(100 * p / scale, 1) for p in probs]
        m["best"] = {"label": vocab[best], "pct": pct(probs[best])}
    last = dists[-1] if dists else None
    top = vocab[max(range(len(last)), key=last.__getitem__)] if last else None
    return {
        "prefix": prefix,
        "prefix_label": f"“{prefix}”" if prefix else "[BOS]",
        "items": shown,
        "scale": f"{scale * 100:.0f}%",
        "vocab": vocab,
        "top": top,
        "newest": newest,
    }


def recipe_view(step: StepRecipe, num_params: int, block_size: int, walk: float = 0.0) -> dict:
    """The document as tokens, each predicted one coloured by the probability it was given and
    labelled with its loss (−ln p). ``walk``: seconds for the page to walk through the five
    phases of this step (0: show them all at once)."""
    labels, probs = step.tokens, step.target_probs
    tokens = []
    for i, label in enumerate(labels):
        t = {"label": label, "bos": label == BOS}
        if i == 0:
            t["kind"] = "ctx"
        elif i - 1 < len(probs):
            bg, fg = prob_colour(probs[i - 1])
            nll = -math.log(probs[i - 1]) if probs[i - 1] > 0 else math.inf
            t.update(kind="pred", pct=pct(probs[i - 1]), nll=f"{nll:.2f}", bg=bg, fg=fg)
        else:
            t["kind"] = "out"  # beyond the context window: not trained on
        tokens.append(t)
    return {
        "step": step.step,
        "doc": step.doc,
        "tokens": tokens,
        "n_positions": len(probs),
        "loss": step.loss,
        "grad_norm": step.grad_norm,
        "lr": step.lr,
        "num_params": num_params,
        "block_size": block_size,
        "walk_ms": round(1000 * walk),
    }


def progress_view(
    step: int,
    run_step: int,
    run_steps: int,
    rate: float | None = None,
    elapsed: float | None = None,
    eta: float | None = None,
    loss: float | None = None,
) -> dict:
    return {
        "loss": loss,
        "step": step,
        "run_step": run_step,
        "run_steps": run_steps,
        "percent": round(100 * run_step / run_steps) if run_steps else 0,
        "rate": f"{rate:.1f} steps/s" if rate else "–",
        "elapsed": duration(elapsed),
        "eta": duration(eta) if eta is not None and run_step < run_steps else "–",
    }


def attention_view(labels: list[str], attention: list) -> dict:
    """Layer 0's heads as grids of cells (None above the diagonal: a position can't look ahead)."""
    n = len(labels)
    heads = []
    for head in attention[0] if attention else []:
        rows = []
        for q in range(n):
            row = []
            for k in range(n):
                if k > q or q >= len(head) or k >= len(head[q]):
                    row.append(None)
                else:
                    w = head[q][k]
                    row.append({"bg": viridis(w)[0], "pct": pct(w)})
            rows.append(row)
        heads.append(rows)
    return {"labels": labels, "short": [short_label(x) for x in labels], "heads": heads}
