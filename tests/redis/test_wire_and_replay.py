"""What crosses Redis, without a server: a worker message is the same numbers after the trip
(weights as raw doubles, nothing unpickled), and the web's runner passes each message on once
however often a redelivered slice sends it, and gives up on a stream with a gap."""

import asyncio
import math
from array import array

from app.contract.worker import Checkpoint, Frame, Ready, Reply, Step
from app.jobs import wire
from app.jobs.runner import RedisRunner
from tests.conftest import step_event


def step_message(step: int, loss: float = 1.0, weights: array | None = None) -> Step:
    event = step_event(
        step,
        loss,
        run_steps=500,
        total=500,
        target_probs=[0.5, 0.25, 0.125],
        grad_norm=1.5,
        steps_per_sec=80.0,
        elapsed=1.0,
        eta=5.0,
        t=1.0,
    )
    return Step(event=event, weights=weights if weights is not None else array("d", [0.5]))


def checkpoint_message(step: int) -> Checkpoint:
    frame = Frame(step=step, grads=array("d", [1e-12, -0.0]), before=array("d", [1, 2]), tokens=[1])
    return Checkpoint(
        step=step,
        run_id=1,
        reason="periodic",
        data="{}",
        elapsed=1.0,
        frame=frame,
        weights=array("d", [0.5, -1.25]),
        m=array("d", [0.1]),
        v=array("d", [0.2]),
    )


def cross(message):
    fields = wire.encode(message, "s1")
    received = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}
    return fields, wire.decode(received)


def test_a_message_crosses_as_the_same_numbers():
    weights = array("d", [0.1, -2.5e-300, math.pi, 1 / 3, 5e-324])
    message = step_message(7, loss=2.0859115424171337, weights=weights)
    fields, (sid, back) = cross(message)
    assert isinstance(fields["b:weights"], bytes)  # not JSON: 8 bytes a double
    assert len(fields["b:weights"]) == 8 * len(weights)
    assert (sid, back.kind) == ("s1", "step")
    assert back == message  # arrays compare element by element, exactly
    fields, (sid, back) = cross(checkpoint_message(7))
    assert back == checkpoint_message(7)
    assert isinstance(back.frame.grads, array)


class Jobs:  # the runner's view of RedisJobs, for feeding it entries by hand
    url = "redis://127.0.0.1:6379/0"

    def detach(self, runner):
        pass


def feed(runner, sid, messages):
    for message in messages:
        fields = wire.encode(message, sid)
        fields["q"] = str(feed.q.setdefault(sid, 0))
        feed.q[sid] += 1
        runner.accept(
            {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}
        )


feed.q = {}


def drain(runner) -> list:
    out = []
    while not runner._queue.empty():
        out.append(runner._queue.get_nowait())
    return out


def steps_of(step_range):
    return [step_message(s) for s in step_range]


def test_a_redelivered_slice_s_messages_are_passed_on_once():
    asyncio.set_event_loop(asyncio.new_event_loop())
    runner = RedisRunner(Jobs(), run=1)
    sid = runner.sid
    ready = Ready(pid=1, host="a", step=0, replay=False)
    feed(runner, sid, [ready, *steps_of(range(1, 26))])
    feed(runner, sid, [checkpoint_message(25), *steps_of(range(26, 31))])
    feed(runner, "another-session", steps_of(range(1, 3)))  # not this runner's
    # the worker died at step 30; the slice starts again from the checkpoint at 25
    again = Ready(pid=2, host="b", step=25, replay=True)
    feed(runner, sid, [again, *steps_of(range(26, 34)), Reply(ok=True, step=33, cmd=0)])
    passed = drain(runner)
    assert [m.step for m in passed if m.kind == "step"] == list(range(1, 34))
    assert [m.kind for m in passed].count("checkpoint") == 1
    assert runner.pid == 2 and runner.host == "b"
    # the same command's reply, sent again by a later redelivery, is not passed on twice
    feed(runner, sid, [Reply(ok=True, step=33, cmd=0), Reply(ok=True, step=33, cmd=1)])
    assert [(m.ok, m.cmd) for m in drain(runner) if m.kind == "reply"] == [(True, 1)]


def test_a_gap_in_the_stream_fails_the_session_instead_of_skipping_steps():
    asyncio.set_event_loop(asyncio.new_event_loop())
    runner = RedisRunner(Jobs(), run=1)
    feed(runner, runner.sid, steps_of(range(1, 4)))
    feed.q[runner.sid] += 10  # ten entries trimmed before they were read
    feed(runner, runner.sid, steps_of(range(14, 15)))
    passed = drain(runner)
    assert passed[-1] is None  # the end: the service sees the worker gone, and why
    assert [m.step for m in passed[:-1] if m.kind == "step"] == [1, 2, 3]
    assert not runner.alive and "10 lost" in runner.describe_exit()
