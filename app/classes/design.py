"""A class as an experiment: which seed each student's run gets, and which setting (if any)
is spread across the class, round-robin in join order.

A student's place in join order (their ``slot``: 0 for the first to join) fixes both, so a
removal reshuffles nobody and a run remade with new settings keeps its student's seed and
value. "each" gives slot k the preset's seed + k (every model differs, and is reproducible);
"same" gives everyone the preset's seed (every curve the same, as a run outside a class)."""

from pydantic import ValidationError

from app import limits as L
from app.classes.records import Class
from app.contract.api import RunIn
from app.contract.classes import VaryIn
from app.runs.errors import BadInput

LABELS = {
    "lr": "learning rate",
    "n_embd": "width (n_embd)",
    "n_layer": "layers (n_layer)",
    "block_size": "context (block_size)",
    "steps": "steps a Train",
    "dataset": "data set",
}


def checked_vary(preset: RunIn, vary: VaryIn | None, steps_per_run: int) -> dict | None:
    """The varied setting as the class keeps it, every value a setting a run of ``preset``
    can have (as RunIn reads it); else 422 naming the values that cannot be."""
    if vary is None:
        return None
    values, bad = [], []
    base = preset.model_dump(exclude={"name"}, mode="json")
    for value in vary.values:
        try:
            spec = RunIn(**{**base, vary.field: value})
        except ValidationError as e:
            bad.append(f"{value!r} ({e.errors()[0]['msg'].removeprefix('Value error, ')})")
            continue
        if vary.field == "steps" and spec.steps > steps_per_run:
            bad.append(f"{value!r} (more than steps_per_run, {steps_per_run:,})")
            continue
        values.append(spec.model_dump(mode="json")[vary.field])
    if bad:
        raise BadInput(f"vary.values: {vary.field} cannot be {'; '.join(bad)}")
    return {"field": vary.field, "values": values}


def checked_design(preset: RunIn, seeds: str, vary: VaryIn | None, steps_per_run: int) -> dict:
    """A class's experiment as it keeps it: whose seed, and the varied setting checked."""
    return {"seeds": seeds, "vary": checked_vary(preset, vary, steps_per_run)}


def seed_of(klass: Class, slot: int) -> int:
    seed = int(klass.preset.get("seed", L.SEED.default))
    return (seed + slot) % (L.SEED.hi + 1) if klass.seeds == "each" else seed


def value_of(klass: Class, slot: int):
    """The student's value of the varied setting (None: nothing varies)."""
    if not klass.vary:
        return None
    values = klass.vary["values"]
    return values[slot % len(values)]


def run_spec(klass: Class, slot: int, name: str) -> RunIn:
    """The run of the student in join-order place ``slot``: the preset, their seed, their
    value of the varied setting."""
    settings = {**klass.preset, "seed": seed_of(klass, slot), "name": name}
    if klass.vary:
        settings[klass.vary["field"]] = value_of(klass, slot)
    return RunIn(**settings)


def shown_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def assignment(klass: Class, slot: int) -> str:
    """What the join page tells the student: "you train with learning rate 0.02, seed 43"."""
    parts = []
    if klass.vary:
        label = LABELS[klass.vary["field"]]
        parts.append(f"{label} {shown_value(value_of(klass, slot))}")
    parts.append(f"seed {seed_of(klass, slot)}")
    return "you train with " + ", ".join(parts)
