"""The one error of the store that callers handle."""


class StoreError(RuntimeError):
    """The database cannot be used and must not be moved aside: the message says why and names
    the file."""
