"""Which runs may train now: at most ``workers`` at once, the rest in a fair queue.

Pure bookkeeping, no asyncio: a run ``request``s a worker and gets it at once or a place in
the queue; ``release`` frees its worker and hands it to the next run waiting, whose
``on_grant`` callback is called (it starts that run's training process).

The queue is fair: a freed worker goes round-robin between groups (a class, or a person
outside classes), within a group round-robin between owners (the people who made the runs),
and within an owner first come, first served. So a person who queued 200 runs delays another
person's first run by one turn, not by 200 runs. ``owner_of(run)`` says whose a run is:
(group, owner); by default every run is its own, which makes the queue first-in-first-out.
"""

import heapq
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

Owner = tuple[str, str]  # (group, owner)
Groups = OrderedDict[str, OrderedDict[str, deque[int]]]  # in turn order


def own(run: int) -> Owner:
    return (f"run {run}", f"run {run}")


def _take(groups: Groups) -> int:
    """The next run whose turn it is; its owner and group go to the back of their turns."""
    group, owners = groups.popitem(last=False)
    owner, runs = owners.popitem(last=False)
    run = runs.popleft()
    if runs:
        owners[owner] = runs
    if owners:
        groups[group] = owners
    return run


class Scheduler:
    def __init__(self, workers: int, owner_of: Callable[[int], Owner] = own):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self.owner_of = owner_of
        self.running: set[int] = set()
        self._groups: Groups = OrderedDict()
        self._where: dict[int, Owner] = {}  # every queued run -> its (group, owner)
        self._on_grant: dict[int, Callable[[], None]] = {}
        self._order: list[int] | None = None  # the queue in turn order, until it changes
        self.on_change: Callable[[], None] | None = None  # told when the queue's order changes

    @property
    def queue(self) -> list[int]:
        """The runs waiting, in the order they will get a worker."""
        if self._order is None:
            copy: Groups = OrderedDict(
                (g, OrderedDict((o, deque(runs)) for o, runs in owners.items()))
                for g, owners in self._groups.items()
            )
            self._order = [_take(copy) for _ in range(len(self._where))]
        return list(self._order)

    def request(self, run: int, on_grant: Callable[[], None]) -> int:
        """0 if ``run`` may train now (it holds a worker), else its place in the queue (1 is
        next); ``on_grant()`` is called when a worker frees up for it."""
        if run in self.running:
            return 0
        if run in self._where:
            self._on_grant[run] = on_grant
            return self.position(run)
        if len(self.running) < self.workers and not self._where:
            self.running.add(run)
            return 0
        group, owner = self._where[run] = self.owner_of(run)
        self._groups.setdefault(group, OrderedDict()).setdefault(owner, deque()).append(run)
        self._on_grant[run] = on_grant
        self._changed()
        return self.position(run)

    @property
    def waiting(self) -> int:
        """How many runs wait for a worker."""
        return len(self._where)

    def position(self, run: int) -> int | None:
        """1-based place in the queue, None if not waiting."""
        if run not in self._where:
            return None
        return self.queue.index(run) + 1

    def cancel(self, run: int) -> None:
        """``run`` no longer waits (paused or stopped while queued)."""
        where = self._where.pop(run, None)
        if where is None:
            return
        group, owner = where
        owners = self._groups[group]
        owners[owner].remove(run)
        if not owners[owner]:
            del owners[owner]
        if not owners:
            del self._groups[group]
        self._on_grant.pop(run, None)
        self._changed()

    def release(self, run: int) -> None:
        """``run`` no longer trains: its worker goes to the runs whose turn it is."""
        self.running.discard(run)
        self.cancel(run)
        while self._groups and len(self.running) < self.workers:
            nxt = _take(self._groups)
            del self._where[nxt]
            self.running.add(nxt)
            self._changed()
            self._on_grant.pop(nxt)()

    def _changed(self) -> None:
        self._order = None
        if self.on_change is not None:
            self.on_change()


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
