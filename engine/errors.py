def short_repr(value, limit=60, count=False):
    """A value for an error message: its repr, shortened (an input may hold megabytes);
    ``count``: say how long the whole repr was."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<deeply nested {type(value).__name__}>"
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" + (f" ({len(text):,} characters)" if count else "")


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
