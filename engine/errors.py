class EngineError(ValueError):
    """A bad input to the engine, with a one-line message naming the value and what is allowed."""
