"""From the worker's messages to the run's state: one task per worker reads them in order,
updates the run, stores checkpoints and history, and publishes events on the run's bus.

A step's ``StepEvent`` arrives built (by the training process) and is only extended here
(run, segment, smooth, single) before it is published: the bus, the streams and the page read
those fields, never a dict of them.
"""

import asyncio
import logging
from array import array
from collections.abc import Callable

from app.bus import EventBus
from app.contract.events import DoneEvent, ErrorEvent, ValidationEvent
from app.contract.worker import (
    Checkpoint,
    Diverged,
    Done,
    Error,
    Params,
    Reply,
    Step,
    Validation,
    Weights,
    WorkerMessage,
)
from app.jobs.local import JobRunner
from app.past.frames import ParamsFrame, to_le_bytes
from app.runs.link import WorkerLink
from app.runs.loader import ModelLoader
from app.runs.machine import Command, SegmentEvent, transition
from app.runs.machine import Status as S
from app.runs.run import RunState
from app.runs.segments import Segments
from app.store import FrameRow, Store, StoreWriteError
from engine import Predictor
from engine.gradcheck import unflatten

log = logging.getLogger(__name__)


class Bridge:
    def __init__(
        self,
        run: RunState,
        store: Store,
        bus: EventBus,
        link: WorkerLink,
        segments: Segments,
        loader: ModelLoader,
        lock: asyncio.Lock,
        publish_status: Callable[[], object],
    ):
        self.run, self.store, self.bus, self.link = run, store, bus, link
        self.segments, self.loader, self.lock = segments, loader, lock
        self.publish_status = publish_status
        self.halted: JobRunner | None = None  # a worker whose steps could not be stored
        self.failing = False  # fail_run is rewinding the model to its checkpoint

    async def consume(self, runner: JobRunner) -> None:
        """The one task that consumes the worker's messages, in order."""
        try:
            async for message in runner.messages():
                if runner is self.halted:
                    continue  # steps beyond what is stored: dropped, as a lost worker's
                try:
                    await self.on_message(message)
                except Exception:
                    log.exception("while handling %r from the training process", message.kind)
        finally:
            await self.on_exit(runner)

    async def on_message(self, message: WorkerMessage) -> None:
        run = self.run
        match message:
            case Step():
                self.on_step(message)
            case Weights(step=step, values=values):
                weights = unflatten(run.config, values)
                run.set_snapshot(Predictor(run.config, run.tokenizer, weights), step)
            case Params():
                self.on_params(message)
            case Validation(step=step, loss=loss):
                run.losses.add_validation(step, loss)
                self.bus.publish("validation", ValidationEvent(run=run.id, step=step, loss=loss))
            case Checkpoint():
                await self.on_checkpoint(message)
            case Done():
                await self.on_done(message)
            case Diverged():
                await self.on_diverged(message)
            case Reply():
                self.link.answer(message)
            case Error(message=text):
                self.link.error = text
                log.error("training process: %s", text)

    def on_step(self, message: Step) -> None:
        run = self.run
        event = message.event
        segment = run.segment.id if run.segment is not None else None
        run.step = event.step
        if run.segment is not None:
            run.segment.step = event.step
        probes = {p.prefix: array("d", p.probs) for p in event.probes}
        smooth = run.losses.add_step(event, segment, message.weights, probes)
        run.probe_lines.add(event.step, probes)
        event = event.model_copy(
            update={"run": run.id, "segment": segment, "smooth": smooth, "single": run.single}
        )
        self.bus.publish("step", event)
        run.last_step = event

    def on_params(self, p: Params) -> None:
        run = self.run
        shapes = run.params_frame.shapes  # the model's: the worker sends the same order
        run.params_frame = ParamsFrame(
            run.model, p.step, shapes, p.values, p.m, p.v, p.before, p.grads, p.tokens
        )

    async def on_checkpoint(self, p: Checkpoint) -> None:
        run = self.run
        rows, validation = run.losses.unsaved(p.step)
        frame = None
        if p.frame is not None:  # the step that made these weights: /api/params after a restart
            f = p.frame
            frame = FrameRow(f.step, f.tokens, to_le_bytes(f.before), to_le_bytes(f.grads))
        moments = (to_le_bytes(p.m), to_le_bytes(p.v))
        state = None  # the JSON whole (an earlier release's worker): the store splits it
        if p.weights is not None:
            state = (to_le_bytes(p.weights), *moments)
        try:
            await asyncio.to_thread(
                self.store.save_checkpoint,
                run.model,
                p.step,
                p.run_id,
                p.data,
                p.reason,
                rows,
                p.elapsed,
                frame,
                moments,
                validation,
                state=state,
            )
        except StoreWriteError as e:
            await self.write_failed(e)
            return
        run.losses.saved(p.step)
        run.checkpoint_step = p.step
        if run.segment is not None and run.segment.id == p.run_id:
            run.segment.elapsed = p.elapsed

    async def write_failed(self, e: StoreWriteError) -> None:
        """A checkpoint (with its history) could not be stored: training stops at the last
        one that was, at most one checkpoint interval behind what was shown; the run fails
        with the reason, and Resume goes on from there once the disk takes writes again."""
        self.halted = self.link.runner
        log.error("run %s: a checkpoint could not be stored: %s", self.run.id, e.reason)
        await self.fail_run(e.reason)
        self.store.write_failed = e  # degraded (/healthz) until a write succeeds again

    async def on_done(self, p: Done) -> None:
        run, seg = self.run, self.run.segment
        if seg is not None and seg.id == p.run_id:
            await self.segments.move(SegmentEvent.finish, step=p.step)
        if run.status != S.training:
            return  # a shutdown is under way
        run.status = transition(run.status, Command.finish)
        self.link.release()
        last = run.history[-1] if run.history else None
        self.bus.publish(
            "done",
            DoneEvent(
                segment=run.segment_info(seg),
                step=run.step,
                loss=last[1] if last else None,
                smooth=last[2] if last else None,
            ),
        )
        self.publish_status()

    async def on_diverged(self, p: Diverged) -> None:
        """A step's loss went non-finite: the segment ends as ``diverged`` at that step, and
        the model is back at its last checkpoint (the worker went back there too)."""
        run = self.run
        run.diverged = True
        await self.loader.reload()
        seg = run.segment
        lr = seg.lr if seg is not None else run.lr
        message = (
            f"the run diverged at step {p.step}: its loss or gradients stopped being finite "
            f"numbers. The model is back at step {run.checkpoint_step}, its last checkpoint; "
            f"train again with a lower learning rate than {lr:g}"
        )
        if seg is not None and seg.id == p.run_id:
            await self.segments.move(SegmentEvent.diverge, message, step=run.checkpoint_step)
        if run.status == S.training:
            run.status = transition(run.status, Command.diverge)
            self.link.release()
        log.warning("%s (%s)", message, p.message)
        self.publish_error(message, seg)

    def publish_error(self, message: str, seg) -> None:
        run = self.run
        self.bus.publish(
            "error",
            ErrorEvent(
                message=message, segment=seg.id if seg else None, step=run.step, status=run.status
            ),
        )
        self.publish_status()

    async def on_exit(self, runner: JobRunner) -> None:
        link, run = self.link, self.run
        if runner is not link.runner or link.closing:
            return  # a worker closed on purpose or already replaced, or shutdown
        link.runner = None
        reason = link.error or f"the training process died ({runner.describe_exit()})"
        link.gone(reason)
        async with self.lock:  # after the command that was waiting on this worker, if any
            if link.closing or link.runner is not None:
                return  # a command has started a new worker since: the status is its
            if run.status == S.training:
                await self.fail_run(reason)
            else:
                log.warning("%s while %s", reason, run.status)
                link.scheduler.release(run.id)
                self.publish_status()

    async def fail_run(self, reason: str) -> None:
        """The training segment lost its worker: back to the last checkpoint, the segment
        failed (it resumes from there); the other runs go on."""
        run = self.run
        if run.status != S.training or self.failing:
            return  # already handled, or being handled
        self.failing = True
        log.error("run %s failed: %s", run.id, reason)
        seg = run.segment
        try:
            await self.loader.reload()
            if seg is not None:
                await self.segments.move(SegmentEvent.fail, reason, step=run.checkpoint_step)
        finally:  # failed once the model is back: no reader sees a failed run at a lost step
            run.status = transition(run.status, Command.worker_lost)
            self.link.release()
            self.failing = False
        message = (
            f"the run failed: {reason}; the model is back at its last checkpoint "
            f"(step {run.checkpoint_step})"
        )
        self.publish_error(message, seg)
