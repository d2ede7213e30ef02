"""The bridge from worker messages to a run's state (app.runs.bridge), without a server: a
fake store and worker link, a real bus."""

import asyncio
from array import array

from app.bus import MemoryBus
from app.contract.events import StepEvent
from app.contract.worker import Checkpoint, Done, Reply, Step, Validation
from app.runs.bridge import Bridge
from app.runs.machine import Status
from app.runs.run import RunState
from app.runs.segments import Segments
from app.store import RunRecord, SegmentRow
from tests.conftest import run_async, step_event


class FakeStore:
    def __init__(self):
        self.checkpoints, self.segments = [], []

    def save_checkpoint(self, model, step, segment, data, reason, rows, *rest, state):
        assert len(state) == 3  # weights, m, v: the checkpoint's JSON came without them
        self.checkpoints.append((step, reason, [r.step for r in rows], rest[-1]))

    def update_segment(self, segment):
        self.segments.append((segment.id, segment.status))


class FakeLink:
    def __init__(self):
        self.released, self.replies, self.error = 0, [], None

    def release(self):
        self.released += 1

    def answer(self, reply):
        self.replies.append(reply)


def step_message(step: int, loss: float) -> Step:
    event = step_event(step, loss)
    return Step(event=event, weights=array("d", [float(step)]))


def training_run():
    run = RunState(RunRecord(3, "Run 3", 0.0, {}), seed=42)
    run.segment = SegmentRow(9, 3, 0, 2, 0, 0.01, "running", None, 0.0, None)
    run.status = Status.training
    run.probe_lines.reset(["e"])
    store, link, bus = FakeStore(), FakeLink(), MemoryBus()
    bridge = Bridge(run, store, bus, link, Segments(run, store), None, asyncio.Lock(), lambda: None)
    return run, store, link, bus, bridge


def test_a_step_is_published_as_the_worker_built_it_extended_by_the_run():
    run, store, link, bus, bridge = training_run()
    sub = bus.subscribe()
    message = step_message(1, 3.0)

    run_async(bridge.on_message(message))

    (event,) = sub.drain()
    step = event.payload
    assert isinstance(step, StepEvent) and step is run.last_step
    assert (step.run, step.segment, step.smooth, step.single) == (3, 9, 3.0, False)
    assert step.model_dump(exclude={"run", "segment", "smooth"}) == message.event.model_dump(
        exclude={"run", "segment", "smooth"}
    )
    assert run.step == run.segment.step == 1 and run.history == [(1, 3.0, 3.0)]
    assert run.probe_line("e") == ([1], [array("d", [0.25, 0.75])])


def test_a_checkpoint_stores_the_steps_before_it_and_done_ends_the_segment():
    run, store, link, bus, bridge = training_run()

    async def feed():
        for message in (
            step_message(1, 3.0),
            step_message(2, 2.5),
            Validation(step=2, loss=2.7),
            Checkpoint(
                step=2,
                run_id=9,
                reason="finish",
                data="{}",
                elapsed=0.2,
                frame=None,
                weights=array("d", [0.5]),
                m=array("d", [0.0]),
                v=array("d", [0.0]),
            ),
            Done(run_id=9, step=2),
            Reply(ok=True, step=2),
        ):
            await bridge.on_message(message)

    run_async(feed())

    assert store.checkpoints == [(2, "finish", [1, 2], [(2, 2.7)])]
    assert run.checkpoint_step == 2 and run.losses.pending == [] and run.segment.elapsed == 0.2
    assert store.segments == [(9, "done")] and run.segment.ended_at is not None
    assert run.status == Status.idle and link.released == 1
    assert [r.ok for r in link.replies] == [True]
