"""Past states rebuilt by replay (weights, Adam's m and v after a step), kept in memory for
the pages that scrub through the history: a neighbour of a rebuilt step is one replay away.

One cache for the process, bounded by bytes (24 bytes a parameter a state: ~100 KB for the
default shape), the least recently used going first; safe to share between threads.
"""

import threading
from array import array
from collections import OrderedDict

State = tuple[array, array, array]  # weights, m, v: flat float64 in parameter order

STATE_CACHE_BYTES = 64 * 1024 * 1024


class StateCache:
    def __init__(self, budget: int = STATE_CACHE_BYTES):
        self.budget, self.size = budget, 0
        self._states: OrderedDict[tuple[int, int], State] = OrderedDict()  # (model, step)
        self._lock = threading.Lock()

    def get(self, model: int, step: int) -> State | None:
        with self._lock:
            state = self._states.get((model, step))
            if state is not None:
                self._states.move_to_end((model, step))
            return state

    def put(self, model: int, step: int, state: State) -> None:
        with self._lock:
            old = self._states.pop((model, step), None)
            if old is not None:
                self.size -= _bytes(old)
            self._states[(model, step)] = state
            self.size += _bytes(state)
            while self.size > self.budget and len(self._states) > 1:
                _, dropped = self._states.popitem(last=False)
                self.size -= _bytes(dropped)

    def nearest(self, model: int, lo: int, hi: int) -> tuple[int, State] | None:
        """The newest state of ``model`` kept for a step from ``lo`` to ``hi``."""
        with self._lock:
            steps = [s for (m, s) in self._states if m == model and lo <= s <= hi]
            if not steps:
                return None
            step = max(steps)
            return step, self._states[(model, step)]

    def forget_after(self, model: int, step: int) -> None:
        """``model``'s steps after ``step`` will be trained again (maybe otherwise)."""
        with self._lock:
            for key in [k for k in self._states if k[0] == model and k[1] > step]:
                self.size -= _bytes(self._states.pop(key))


def _bytes(state: State) -> int:
    return sum(a.itemsize * len(a) for a in state)


STATES = StateCache()
