"""Rate limits on the classroom's codes: token buckets, one per client or per class.

A bucket holds at most ``burst`` tokens and gains ``rate`` a second; an action takes one, and
finds none left when it came too often. Used for a client's failed code lookups (a few dozen a
minute, then 429: codes cannot be guessed at speed) and for a class's new seats (a burst of
about 100, then a few a second: a class of 300 behind one address joins within two minutes,
a script cannot take every seat).
"""

import time
from collections.abc import Callable, Hashable

KEPT_BUCKETS = 10_000  # beyond this many, full buckets (idle clients) are forgotten


class Buckets:
    """A token bucket per key, each ``burst`` tokens filling at ``rate`` a second."""

    def __init__(self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic):
        self.burst, self.rate, self.clock = burst, rate, clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, key: Hashable) -> float:
        """Seconds until ``key`` has a token (0: it has one now)."""
        tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: Hashable) -> float:
        """Take a token if there is one; returns the seconds to wait (0: taken)."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > KEPT_BUCKETS:
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
        for key in full:
            del self._buckets[key]
