"""The queue as the waiting runs' pages see it: each queued run's estimated wait, and a status
for each run whose place changed (``app.runs.scheduler`` decides the order)."""

from collections.abc import Mapping

from app.runs.scheduler import Scheduler, waits
from app.runs.service import RunService


def duration(service: RunService) -> float:
    """Seconds ``service``'s segment trains for, once it has a worker."""
    return max(service.steps_left(), 1) * service.step_seconds()


class Waiting:
    def __init__(self, scheduler: Scheduler, services: Mapping[int, RunService]):
        self.scheduler, self.services = scheduler, services
        self._places: dict[int, int] = {}  # queued runs' places, as their pages last heard
        self._waits: dict[int, float] | None = None  # every queued run's, while ``changed`` runs

    def estimate_wait(self, run_id: int) -> float | None:
        """Seconds until a worker is free for queued ``run_id``, from the running runs' ETAs
        and the lengths of the runs queued before it."""
        if self._waits is not None:
            return self._waits.get(run_id)
        queue = self.scheduler.queue
        if run_id not in queue:
            return None
        return self._estimate(queue[: queue.index(run_id) + 1])[-1]

    def _estimate(self, queue: list[int]) -> list[float]:
        running = [self.services[r].seconds_left() for r in self.scheduler.running]
        durations = [duration(self.services[r]) for r in queue]
        return waits(running, durations, self.scheduler.workers)

    def changed(self) -> None:
        """The queue's order changed: each queued run whose place moved tells its page."""
        queue = self.scheduler.queue
        places = {run: i + 1 for i, run in enumerate(queue)}
        self._waits = dict(zip(queue, self._estimate(queue), strict=True))  # once, for all
        try:
            for run, place in places.items():
                if self._places.get(run) != place and run in self.services:
                    self.services[run].publish_status()
        finally:
            self._waits = None
        self._places = places
