"""Which runs may train now: at most ``workers`` at once, the rest in a FIFO queue.

Pure bookkeeping, no asyncio: a run ``request``s a worker and gets it at once or a place in
the queue; ``release`` frees its worker and hands it to the first run waiting, whose
``on_grant`` callback is called (it starts that run's training process).
"""

import heapq
from collections import deque
from collections.abc import Callable, Sequence


class Scheduler:
    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self.running: set[int] = set()
        self._queue: deque[int] = deque()
        self._on_grant: dict[int, Callable[[], None]] = {}

    @property
    def queue(self) -> list[int]:
        return list(self._queue)

    def request(self, run: int, on_grant: Callable[[], None]) -> int:
        """0 if ``run`` may train now (it holds a worker), else its place in the queue (1 is
        next); ``on_grant()`` is called when a worker frees up for it."""
        if run in self.running:
            return 0
        if run in self._queue:
            self._on_grant[run] = on_grant
            return self.position(run)
        if len(self.running) < self.workers and not self._queue:
            self.running.add(run)
            return 0
        self._queue.append(run)
        self._on_grant[run] = on_grant
        return len(self._queue)

    def position(self, run: int) -> int | None:
        """1-based place in the queue, None if not waiting."""
        try:
            return self._queue.index(run) + 1
        except ValueError:
            return None

    def cancel(self, run: int) -> None:
        """``run`` no longer waits (paused or stopped while queued)."""
        if run in self._queue:
            self._queue.remove(run)
            self._on_grant.pop(run, None)

    def release(self, run: int) -> None:
        """``run`` no longer trains: its worker goes to the first runs waiting."""
        self.running.discard(run)
        self.cancel(run)
        while self._queue and len(self.running) < self.workers:
            nxt = self._queue.popleft()
            self.running.add(nxt)
            self._on_grant.pop(nxt)()


def waits(running_left: Sequence[float], queued_durations: Sequence[float], workers: int):
    """Estimated seconds until each queued run starts: workers free up as the running runs end
    (``running_left``: seconds each has left), and each queued run then holds one for its
    duration, in queue order."""
    free = sorted(running_left)[:workers]
    free += [0.0] * (workers - len(free))
    heapq.heapify(free)
    out = []
    for duration in queued_durations:
        start = heapq.heappop(free)
        out.append(start)
        heapq.heappush(free, start + duration)
    return out
