def short_repr(value, limit=60):
    """A value for an error message: its repr, shortened (an input may hold megabytes)."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EngineError(ValueError):
    """A bad input to the engine, with a one-line message naming the value and what is allowed."""


class Diverged(EngineError):
    """Training produced a non-finite loss or gradient at ``step``: the weights were not updated."""

    def __init__(self, step, what):
        self.step, self.what = step, what
        super().__init__(
            f"training diverged at step {step}: {what}; the weights were left as they were "
            "before this step (try a lower learning rate)"
        )
