"""A run's segments, stored: each status change follows ``app.runs.machine.SEGMENT``."""

import asyncio
import time

from app.runs.machine import SegmentEvent, SegmentStatus, Status, segment_allows
from app.runs.machine import segment_transition as transition
from app.runs.run import RunState
from app.store import SegmentRow, Store

E, G = SegmentEvent, SegmentStatus
ENDED = (G.stopped, G.done)  # the statuses that stamp ``ended_at`` when set by a command


class Segments:
    def __init__(self, run: RunState, store: Store):
        self.run, self.store = run, store

    async def create(self, steps: int, lr: float) -> SegmentRow:
        """A new segment (queued) of ``steps`` from the model's step; the run's current one."""
        run = self.run
        seg = await asyncio.to_thread(self.store.create_segment, run.model, run.step, steps, lr)
        run.segments.append(seg)
        run.segment = seg
        return seg

    async def move(
        self,
        event: SegmentEvent,
        reason: str | None = None,
        step: int | None = None,
        segment: SegmentRow | None = None,
    ) -> None:
        """``event`` happens to ``segment`` (default: the current one), stored at once.
        ``reason``: why it ended or stopped; ``step``: where it now is."""
        seg = segment or self.run.segment
        status = transition(seg.status, event)
        seg.status, seg.reason = status.value, reason
        if event in (E.finish, E.fail, E.diverge, E.abandon) or status in ENDED:
            seg.ended_at = time.time()
        elif event != E.interrupt:
            seg.ended_at = None
        if step is not None:
            seg.step = step
        await asyncio.to_thread(self.store.update_segment, seg)

    async def abandon(self, reason: str) -> None:
        """A suspended (or queued) segment that will never resume is stopped."""
        seg = self.run.segment
        if seg is not None and segment_allows(seg.status, E.abandon):
            await self.move(E.abandon, reason)

    async def recover(self) -> None:
        """At start: a segment the server stopped during (training, or waiting for a worker)
        is interrupted, to resume from its last checkpoint; the run's status follows it."""
        run, seg = self.run, self.run.segment
        if seg is None:
            return
        if segment_allows(seg.status, E.interrupt):
            reason = "the server stopped during the segment"
            if seg.status == G.interrupted:  # interrupted already: as it was said then
                reason = seg.reason
            await self.move(E.interrupt, reason, step=run.checkpoint_step)
            run.status = Status.interrupted
        elif seg.status in (G.paused, G.failed):
            run.status = Status(seg.status)

    async def begun(self, seg: SegmentRow | None) -> bool:
        """Whether ``seg`` has reached its worker (the latest checkpoint is one of its)."""
        if seg is None:
            return False
        ckpt = await asyncio.to_thread(self.store.latest_checkpoint, self.run.model)
        return ckpt is not None and ckpt.segment == seg.id
