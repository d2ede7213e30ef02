"""What a user asks of a run: train, resume, step once, pause, stop, pace. One at a time (the
run's lock); each is a cell of the run's status table (``app.runs.machine``), refused with
its reason otherwise. Every start waits in the scheduler's queue for a worker."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app import limits as L
from app.contract.events import StateOut
from app.contract.worker import Reply
from app.runs.bridge import Bridge
from app.runs.errors import BadInput, Conflict, ServiceError, WorkerUnavailable
from app.runs.link import WorkerLink
from app.runs.machine import Command, Refused, SegmentEvent, transition
from app.runs.machine import Status as S
from app.runs.run import RunState
from app.runs.scheduler import Scheduler
from app.runs.segments import Segments

log = logging.getLogger(__name__)

StepLimit = Callable[[int], tuple[int, str] | None]  # run id -> (most steps, who says so)
SpaceCheck = Callable[[RunState, int], Awaitable[None]]  # (run, steps): raises if no room


async def any_space(run: RunState, steps: int) -> None:
    return None


class Commands:
    def __init__(
        self,
        run: RunState,
        link: WorkerLink,
        bridge: Bridge,
        segments: Segments,
        scheduler: Scheduler,
        lock: asyncio.Lock,
        step_limit: StepLimit,
        state: Callable[[], StateOut],
        check_space: SpaceCheck = any_space,
    ):
        self.run, self.link, self.bridge, self.segments = run, link, bridge, segments
        self.scheduler, self.lock, self.step_limit = scheduler, lock, step_limit
        self.state, self.publish_status = state, bridge.publish_status
        self._granted: dict[str, Any] | None = None  # what to do when a worker is free
        self.check_space = check_space  # the disk budgets (app.runs.budget)

    def _next(self, command: Command, why: str | None = None) -> S:
        """The status ``command`` leads to, or Conflict saying why it is refused now."""
        status = self.run.status
        try:
            return transition(status, command)
        except Refused as e:
            reason = why or e.reason
            raise Conflict(f"cannot {command}: the run is {status} ({reason})", status) from None

    def _training_now(self) -> str | None:
        run = self.run
        if run.status == S.training and run.segment is not None:
            return f"segment {run.segment.id} is at step {run.step} of {run.segment_end()}"
        return None

    async def train(self, steps: int | None = None, lr: float | None = None) -> StateOut:
        """A new segment of ``steps`` (default: the run's setting) from the current weights;
        it trains as soon as a worker is free (at once if one is)."""
        run = self.run
        async with self.lock:
            queued = self._next(Command.train, why=self._training_now())
            steps = steps or run.run_settings.get("steps", L.STEPS.default)
            limit = self.step_limit(run.id)
            if limit is not None and steps > limit[0]:
                raise BadInput(
                    f"steps {steps:,} is more than {limit[1]} allows: at most {limit[0]:,}"
                )
            await self.check_space(run, steps)
            await self.segments.abandon("superseded by a new segment")
            await self.segments.create(steps, lr or run.lr)
            if lr is not None:
                run.lr = lr
            run.status = queued
            await self._queue({"kind": "train", "steps": steps, "lr": lr})
            return self.state()

    async def resume(self) -> StateOut:
        async with self.lock:
            queued = self._next(Command.resume)
            if self.run.segment is None:
                raise Conflict("cannot resume: the run has no segment to resume", self.run.status)
            self.run.status = queued
            await self.segments.move(SegmentEvent.requeue)
            await self._queue({"kind": "resume"})
            return self.state()

    async def single_step(self) -> StateOut:
        """One step: of the suspended segment, else of a new 1-step segment."""
        run = self.run
        async with self.lock:
            queued = self._next(Command.step)
            new = run.status == S.idle or not await self.segments.begun(run.segment)
            if new:
                await self.segments.abandon("superseded by a single step")
                await self.segments.create(1, run.lr)
            else:
                await self.segments.move(SegmentEvent.requeue)
            run.status = queued
            await self._queue({"kind": "step", "new": new})
            return self.state()

    async def pause(self) -> StateOut:
        run = self.run
        async with self.lock:
            paused = self._next(Command.pause)
            if run.status == S.queued:
                self.scheduler.cancel(run.id)
            else:
                reply = await self._run_command("pause")
                if not reply.ok:
                    raise Conflict("cannot pause: the segment has just ended", run.status)
                self.link.release()
            await self.segments.move(SegmentEvent.pause)
            run.status = paused
            self.publish_status()
            return self.state()

    async def stop(self) -> StateOut:
        run = self.run
        async with self.lock:
            idle = self._next(Command.stop)
            if run.status == S.training:
                reply = await self._run_command("stop")
                if not reply.ok:
                    raise Conflict("cannot stop: the segment has just ended", run.status)
                self.link.release()
                await self.segments.move(SegmentEvent.stop)
            elif run.status == S.queued:
                self.scheduler.cancel(run.id)
                await self.segments.move(SegmentEvent.stop)
            else:
                await self.segments.abandon("stopped")
            run.status = idle
            self.publish_status()
            return self.state()

    async def set_pace(self, steps_per_sec: float | None) -> StateOut:
        """Cap training at ``steps_per_sec`` (None: full speed), at once, also mid-run. A new
        worker is given it when it starts."""
        async with self.lock:
            self.run.pace = steps_per_sec
            async with self.link.spawn_lock:  # a worker starting now was given the old pace
                if self.link.alive:
                    try:
                        await self.link.command("pace", steps_per_sec=steps_per_sec)
                    except WorkerUnavailable as e:  # its successor starts with this pace
                        log.warning("%s", e.detail)
            self.publish_status()
            return self.state()

    # -- a worker for the run: the scheduler's queue --

    async def _queue(self, job: dict[str, Any]) -> None:
        """Ask the scheduler for a worker: with one free, start ``job`` now; else wait
        (queued) and start it when the worker is granted (``_on_grant``)."""
        self._granted = job
        if self.scheduler.request(self.run.id, self._on_grant) == 0:
            await self._start(job)
        else:
            self.publish_status()

    def _on_grant(self) -> None:
        self.link.background(self._start_granted())

    async def _start_granted(self) -> None:
        async with self.lock:
            job = self._granted
            if self.run.status != S.queued or job is None or self.link.closing:
                self.scheduler.release(self.run.id)  # no longer waiting: pass the worker on
                return
            try:
                await self._start(job)
            except ServiceError as e:
                log.error("run %s could not start training: %s", self.run.id, e.detail)

    async def _start(self, job: dict[str, Any]) -> None:
        """The run holds a worker: start its process and the job (train, resume, step)."""
        run = self.run
        self._granted = None
        run.status = transition(run.status, Command.grant)
        await self.segments.move(SegmentEvent.start)
        self.publish_status()
        try:
            await self.link.ensure(self.bridge.consume)
        except WorkerUnavailable as e:
            await self.bridge.fail_run(e.detail)
            e.status = run.status
            raise
        seg, kind = run.segment, job["kind"]
        if kind == "resume" and not await self.segments.begun(seg):
            kind = "train"  # queued, then paused or interrupted before its first step
            job = {"steps": seg.steps, "lr": seg.lr}
        if kind == "train":
            await self._run_command("train", run_id=seg.id, steps=job["steps"], lr=job["lr"])
        elif kind == "resume":
            await self._run_command("resume", run_id=seg.id, elapsed=seg.elapsed)
        else:
            await self._step(job["new"])

    async def _step(self, new: bool) -> None:
        run = self.run
        run.single = True  # the page walks this step through its phases
        try:
            seg = run.segment
            await self._run_command("step", run_id=seg.id, new_run=new, elapsed=seg.elapsed)
            if run.status == S.training:  # the segment goes on, stepped by hand: paused
                run.status = transition(run.status, Command.stepped)
                self.link.release()
                await self.segments.move(SegmentEvent.stepped)
                self.publish_status()
        finally:
            run.single = False

    async def _run_command(self, kind: str, **payload) -> Reply:
        """A command to the worker of a training run: if the worker is lost, so is the run
        (failed, back at the last checkpoint) before the caller hears why, not left
        'training' with no worker (a state read after the answer says 'failed')."""
        try:
            return await self.link.command(kind, **payload)
        except WorkerUnavailable as e:
            await self.bridge.fail_run(e.detail)
            e.status = self.run.status
            raise
