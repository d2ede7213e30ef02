"""The training process's newest checkpoint: where a divergence goes back to, and a Redis
slice's restart point. A checkpoint is sent without its state (which goes as arrays, not
~280 KB of floats as text), so its whole JSON is made only when it is asked for."""

import json
from array import array

from engine.checkpoint import with_state


class NewestCheckpoint:
    def __init__(self, data: str):
        self._whole: str | None = data
        self._parts: tuple[str, array, array, array] | None = None

    def sent(self, meta: str, values: array, m: array, v: array) -> None:
        """A checkpoint sent as its JSON without the state (``meta``) and the state apart."""
        self._whole, self._parts = None, (meta, values, m, v)

    @property
    def whole(self) -> str:
        """Its JSON (``engine.checkpoint``), as ``Trainer.to_dict`` writes it."""
        if self._whole is None:
            meta, values, m, v = self._parts
            self._whole = json.dumps(with_state(json.loads(meta), values, m, v), allow_nan=False)
        return self._whole
