"""Field types shared by the API's and the classroom's request models: bounds from app.limits,
and text that can be stored."""

from typing import Annotated

from pydantic import BeforeValidator, Field

from app import limits as L


def _integral_float_to_int(value: object) -> object:
    """297.0 is a whole number (JSON Schema agrees); "297" and true are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def whole_number(lo: int, hi: int) -> object:
    """A JSON number that is a whole number from lo to hi (not a string, not a boolean)."""
    return Annotated[int, Field(strict=True, ge=lo, le=hi), BeforeValidator(_integral_float_to_int)]


def bounded(bound: L.Bound) -> object:
    """A whole number within ``bound``."""
    return whole_number(bound.lo, bound.hi)


StrictSteps = bounded(L.STEPS)
# a number: not "0.1", not true
LearningRate = Annotated[float, Field(strict=True, gt=L.LR.lo, le=L.LR.hi, allow_inf_nan=False)]


def storable(text: object) -> object:
    """Text that is UTF-8: JSON may carry a lone surrogate (``"\\ud800"``), which no file,
    database or page can hold."""
    if not isinstance(text, str):
        return text  # not text at all: the type's own check says so
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"it holds {e.object[e.start : e.end]!r} at character {e.start}, half of a "
            "character (a lone surrogate), which is not text: paste it again"
        ) from None
    return text


# every text a request carries (names, a dataset's text, codes): a 422 naming the field if
# it cannot be UTF-8
Text = Annotated[str, BeforeValidator(storable)]
