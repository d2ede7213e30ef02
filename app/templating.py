"""Jinja2 for the page: one Templates object (with ``limits``, app.limits, as a global: every
form's min/max/maxlength comes from there), the number formats and colours its partials use,
``render``/``partial`` for fragments, and the recipe's view.
"""

import math
from dataclasses import fields, is_dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app import limits
from app.contract.events import StepRecipe
from app.lesson.glossary import TERMS
from app.lesson.say import phase_sentences
from app.paths import TEMPLATES_DIR
from app.web.assets import STATIC_VERSION

BOS = "[BOS]"


def uniform_loss(vocab_size: int) -> float:
    """The loss of a uniform guess over the vocabulary: ln V (ln 27 ≈ 3.2958 for names)."""
    return math.log(vocab_size)


def number(value: float) -> str:
    """A bound as an HTML attribute: 2 not 2.0, 0.01, 4294967295 (not 4.29497e+09)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def input_bounds(bound: limits.Bound) -> Markup:
    """``min``, ``max`` and ``step`` of a number or range input accepting ``bound`` (an open
    lower end: the browser lets it through and the server names it)."""
    step = bound.step or (1 if bound.whole else None)
    return Markup(
        f'min="{number(bound.lo)}" max="{number(bound.hi)}" '
        f'step="{"any" if step is None else number(step)}"'
    )


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["static"] = STATIC_VERSION.url  # versioned: cached for good
templates.env.globals["limits"] = limits
templates.env.globals["input_bounds"] = input_bounds
templates.env.globals["terms"] = TERMS  # the glossary, for partials/term.html
templates.env.globals["recipe_say"] = phase_sentences
templates.env.filters["thousands"] = lambda n: f"{int(n):,}"
templates.env.filters["sig"] = lambda x: f"{x:.3g}"


def render(name: str, **context: Any) -> str:
    """A partial (templates/partials/<name>.html) as HTML."""
    return templates.get_template(f"partials/{name}.html").render(**context)


def page(request: Request, name: str, view: object, status: int = 200, **kw: Any) -> HTMLResponse:
    """A whole page (templates/<name>) of a view: a dataclass's fields, or a dict, are its
    context."""
    context = {f.name: getattr(view, f.name) for f in fields(view)} if is_dataclass(view) else view
    return templates.TemplateResponse(request, name, context, status, **kw)


def partial(target: str, body: str, swap: str = "innerMorph") -> str:
    """``body`` for htmx to swap into ``#target`` (a message or response may hold several)."""
    return f'<hx-partial hx-target="#{target}" hx-swap="{swap}">{body}</hx-partial>'


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


def recipe_view(step: StepRecipe, num_params: int, block_size: int, held: bool = False) -> dict:
    """The document as tokens, each predicted one coloured by the probability it was given and
    labelled with its loss (−ln p), and the raw probabilities (``probs``) for the words of its
    phases (app.lesson.say). ``held``: a step of Step once, whose walk the page holds at its
    first phase until the learner moves on (else the page shows it whole)."""
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
        "probs": list(probs),
        "loss": step.loss,
        "grad_norm": step.grad_norm,
        "lr": step.lr,
        "num_params": num_params,
        "block_size": block_size,
        "held": held,
    }
