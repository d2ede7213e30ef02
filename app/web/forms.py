"""The page's forms as typed (strings, an empty field: the default), and their parsing into the
API's models (app.contract), so that a form and the JSON API refuse the same values in the
same words. A ValueError names the first bad field: in the order of ``RunIn``'s fields (after
the class's name and limits, on the class form), whatever the order of the form's."""

import math
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Form
from pydantic import BaseModel, ValidationError

from app import limits as L
from app.contract.api import RunIn
from app.contract.classes import ClassLimits
from app.runs.errors import BadInput
from app.web.errors import describe_validation_error, show

FormStr = Annotated[str | None, Form()]

# the run settings a form types as numbers, and their bounds
RUN_SETTINGS = {
    "seed": L.SEED,
    "lr": L.LR,
    "steps": L.STEPS,
    "n_embd": L.N_EMBD,
    "n_head": L.N_HEAD,
    "n_layer": L.N_LAYER,
    "block_size": L.BLOCK_SIZE,
}
CLASS_LIMITS = {"steps_per_run": L.CLASS_STEPS, "runs_per_student": L.CLASS_RUNS}


class RunSettingsFields(BaseModel):
    """The run settings both forms have: the new run's, and the class's (every student's run),
    as typed."""

    name: str | None = None
    dataset: str | None = None  # names, an example, or "own" (the new-run form's text or file)
    lr: str | None = None
    steps: str | None = None
    n_embd: str | None = None
    n_head: str | None = None
    n_layer: str | None = None
    block_size: str | None = None

    def filled(self) -> dict[str, str]:
        """The fields typed in (not empty)."""
        return {k: v for k, v in self.model_dump().items() if v not in (None, "")}


class RunFields(RunSettingsFields):
    """The new-run form (and a preset link's query)."""

    text: str | None = None  # the own list, one document per line
    seed: str | None = None


class ClassFields(RunSettingsFields):
    """The class form: a new class's, and the teacher's new settings."""

    steps_per_run: str | None = None
    runs_per_student: str | None = None


ClassPost = Annotated[ClassFields, Form()]  # the class form, posted


def parse_number(key: str, raw: str) -> int | float:
    """A run setting as typed, as the number ``RunIn`` checks (its bounds are RunIn's job)."""
    if key == "lr":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"lr {raw[:40]!r} is not a number: {L.LR.allowed()}") from None
    try:
        return int(raw)
    except ValueError:
        allowed = RUN_SETTINGS[key].allowed()
        raise ValueError(f"{key} {raw[:40]!r} is not a whole number: {allowed}") from None


def parse_run(fields: Mapping[str, str | None]) -> RunIn:
    """A run's settings as typed, as ``RunIn``; ``dataset`` "own" takes ``text`` as the list."""
    values: dict[str, Any] = {}
    for key in RunIn.model_fields:
        raw = (fields.get(key) or "").strip()
        if key == "dataset" and raw == "own":
            values[key] = {"text": fields.get("text") or ""}
        elif raw:
            values[key] = parse_number(key, raw) if key in RUN_SETTINGS else raw
    try:
        return RunIn(**values)
    except ValidationError as e:
        first = e.errors()[0]
        message = describe_validation_error({**first, "loc": ("form", *first["loc"])})
        raise ValueError(message) from None


def parse_class(fields: Mapping[str, str | None]) -> tuple[str, RunIn, ClassLimits]:
    """The class form as (name, every student's run settings, limits)."""
    name = " ".join((fields.get("name") or "").split())
    if not name:
        raise ValueError("the class needs a name: the students see it when they join")
    if len(name) > L.CLASS_NAME_CHARS:
        raise ValueError(f"a class's name has at most {L.CLASS_NAME_CHARS} characters")
    limits = {}
    for key, bound in CLASS_LIMITS.items():
        raw = (fields.get(key) or "").strip()
        if raw:
            try:
                limits[key] = int(raw)
            except ValueError:
                raise ValueError(f"{key} must be {bound.allowed()}, got {raw[:20]!r}") from None
            if not bound.holds(limits[key]):
                raise ValueError(f"{key} must be {bound.allowed()}, got {limits[key]}")
    preset = parse_run({k: v for k, v in fields.items() if k != "name"})
    return name, preset, ClassLimits(**limits)


def parse_int(raw: str | None, name: str, bound: L.Bound) -> int:
    """A whole number within ``bound`` from a form or query string."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        msg = f"{name} must be a whole number from {bound.lo} to {bound.hi:,}, got {show(raw)}"
        raise ValueError(msg) from None
    if not bound.holds(value):
        raise ValueError(f"{name} must be from {bound.lo} to {bound.hi:,}, got {show(value)}")
    return value


def parse_lr(raw: str | None) -> float | None:
    """Train's learning rate as typed (empty: keep the run's)."""
    if raw in (None, ""):
        return None
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"learning rate must be a number, got {show(raw)}") from None
    if not (math.isfinite(rate) and L.LR.holds(rate)):
        raise ValueError(f"learning rate must be in (0, 1], got {show(raw)}")
    return rate


def parse_pace(raw: str | None) -> float | None:
    """The speed menu's choice: steps/s, or None (full speed)."""
    if raw is None or raw.strip() in ("", "full"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"speed must be a number of steps per second, got {show(raw)}") from None
    if not (math.isfinite(value) and L.PACE.holds(value)):
        allowed = f"from {L.PACE.lo:g} to {L.PACE.hi:g} steps/s"
        raise ValueError(f"speed must be {allowed}, got {show(raw)}")
    return value


def parse_temperature(raw: str) -> float:
    """The samples' temperature as typed."""
    t = L.TEMPERATURE
    try:
        value = float(raw)
        if not t.holds(value):  # also refuses nan
            raise ValueError
    except ValueError:
        allowed = f"from {t.lo:g} to {t.hi:g}"
        raise ValueError(f"temperature must be a number {allowed}, got {show(raw)}") from None
    return value


def parse_step(raw: str | None) -> int | None:
    """The ``step`` a page or fragment asks about: empty or absent is live (None); else
    BadInput, like a step outside the history, so callers handle one kind of refusal."""
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise BadInput(f"step must be a whole number, got {show(raw)}") from None


def required_step(raw: str | None) -> int:
    """A step that must be given (viewing a past step, forking from one)."""
    step = parse_step(raw)
    if step is None:
        raise BadInput(f"step must be a whole number, got {show(raw)}")
    return step
