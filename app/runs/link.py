"""A run's line to its training process: start it, ask it (a command and its reply, with a
timeout), let it go. Its messages are the bridge's (``app.runs.bridge``)."""

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

from app.contract.worker import Reply
from app.jobs.local import JobRunner, WorkerGone
from app.runs.errors import WorkerUnavailable
from app.runs.run import RunState
from app.runs.scheduler import Scheduler
from app.settings import Settings
from app.store import Store

log = logging.getLogger(__name__)

Consume = Callable[[JobRunner], Coroutine]


def helper_fits(scheduler: Scheduler, cores: int) -> bool:
    """Whether a training process starting now gets a helper for its instruments
    (app.jobs.instruments): only if the training processes about to run leave it a core (one
    run alone on 2 cores: yes; a class keeping both workers of 2 cores busy: no, the helpers
    would only take turns with the training)."""
    trainers = min(scheduler.workers, len(scheduler.running) + scheduler.waiting)
    return 2 * max(trainers, 1) <= cores


class WorkerLink:
    def __init__(
        self,
        run: RunState,
        settings: Settings,
        store: Store,
        scheduler: Scheduler,
        runner_factory: Callable[[int], JobRunner],
    ):
        self.run, self.settings, self.store = run, settings, store
        self.scheduler, self._runner_factory = scheduler, runner_factory
        self.runner: JobRunner | None = None
        self.spawn_lock = asyncio.Lock()  # one worker started at a time
        self.reply: asyncio.Future | None = None  # the command waiting for its reply
        self.error: str | None = None  # what the worker said before it exited
        self.closing = False
        self._tasks: set[asyncio.Task] = set()

    def background(self, coro: Coroutine) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pid(self) -> int | None:
        runner = self.runner  # read once: the loop may let go of it meanwhile
        return runner.pid if runner is not None and runner.alive else None

    @property
    def alive(self) -> bool:
        return self.runner is not None and self.runner.alive

    def options(self) -> dict[str, Any]:
        s = self.settings
        return {
            "checkpoint_every": s.checkpoint_every,
            "snapshot_every": s.snapshot_every,
            "val_every": s.val_every,
            "probes": list(s.probes),
            "helper": s.step_helper and helper_fits(self.scheduler, os.cpu_count() or 1),
            "pace": self.run.pace,
            # a test's injected divergence happens once per run, not once per worker
            "fault_nonfinite_at": None if self.run.diverged else s.fault_nonfinite_at,
        }

    async def ensure(self, consume: Consume) -> JobRunner:
        """The run's worker, started (at its newest checkpoint) if it has none; ``consume``
        reads its messages."""
        async with self.spawn_lock:
            if self.alive:
                return self.runner
            ckpt = await asyncio.to_thread(self.store.latest_checkpoint, self.run.model)
            runner = self._runner_factory(self.run.id)
            self.error = None
            try:
                await runner.start(ckpt.data, self.options(), timeout=self.settings.worker_timeout)
            except WorkerGone as e:
                raise WorkerUnavailable(str(e), self.run.status) from None
            self.runner = runner
            self.background(consume(runner))
            log.info("training process %s ready at step %s", runner.pid, ckpt.step)
            return runner

    def release(self) -> None:
        """The run stopped training: its process is closed (after the messages it already
        sent) and its worker goes to the next run waiting."""
        runner, self.runner = self.runner, None
        self.scheduler.release(self.run.id)
        if runner is not None:
            self.background(runner.close())

    async def command(self, kind: str, timeout: float | None = None, **payload) -> Reply:
        """Send a command and wait for its reply. A worker that does not answer in time is
        stopped (its exit then fails a training run); either way the caller gets
        WorkerUnavailable."""
        runner = self.runner
        if runner is None:
            raise WorkerUnavailable("the training process is not running", self.run.status)
        timeout = self.settings.worker_timeout if timeout is None else timeout
        self.reply = fut = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):  # the send too: a stuck worker reads nothing
                await runner.send(kind, **payload)
                return await fut
        except WorkerGone as e:
            raise WorkerUnavailable(f"the training process stopped: {e}", self.run.status) from None
        except TimeoutError:
            log.error("training process %s did not answer %r in %ss", runner.pid, kind, timeout)
            await runner.close(1.0)
            raise WorkerUnavailable(
                f"the training process did not answer within {timeout:g} s and was stopped; "
                "the model is at its last checkpoint",
                self.run.status,
            ) from None
        finally:
            self.reply = None

    def answer(self, reply: Reply) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(reply)

    def gone(self, reason: str) -> None:
        """The worker exited: the command waiting for it, if any, hears why."""
        if self.reply is not None and not self.reply.done():
            self.reply.set_exception(WorkerGone(reason))

    async def close(self) -> None:
        """Shutdown: the worker closed, every task of the run ended."""
        self.closing = True
        self.scheduler.release(self.run.id)
        if self.runner is not None:
            await self.runner.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
