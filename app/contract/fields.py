"""Field types shared by the API's and the classroom's request models: bounds from app.limits."""

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
