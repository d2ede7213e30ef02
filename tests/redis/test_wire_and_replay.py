"""What crosses Redis, without a server: a worker message is the same numbers after the trip
(weights as raw doubles, nothing unpickled), and the web's runner passes each message on once
however often a redelivered slice sends it, and gives up on a stream with a gap."""

import asyncio
import math
from array import array

from app.jobs import wire
from app.jobs.runner import RedisRunner


def test_a_message_crosses_as_the_same_numbers():
    weights = array("d", [0.1, -2.5e-300, math.pi, 1 / 3, 5e-324])
    payload = {
        "step": 7,
        "loss": 2.0859115424171337,
        "tokens": ["e", "m", "<BOS>"],
        "weights": weights,
        "frame": {"step": 7, "grads": array("d", [1e-12, -0.0]), "tokens": [1, 2]},
        "probes": [{"prefix": "e", "probs": [0.25, 0.75]}],
    }
    fields = wire.encode("checkpoint", payload, "s1")
    assert isinstance(fields["b:weights"], bytes)  # not JSON: 8 bytes a double
    assert len(fields["b:weights"]) == 8 * len(weights)
    received = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}
    sid, kind, back = wire.decode(received)
    assert (sid, kind) == ("s1", "checkpoint")
    assert back == payload  # arrays compare element by element, exactly
    assert isinstance(back["frame"]["grads"], array)


class Jobs:  # the runner's view of RedisJobs, for feeding it entries by hand
    url = "redis://127.0.0.1:6379/0"

    def detach(self, runner):
        pass


def feed(runner, sid, messages):
    for kind, payload in messages:
        fields = wire.encode(kind, payload, sid)
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
    return [("step", {"step": s, "loss": 1.0}) for s in step_range]


def test_a_redelivered_slice_s_messages_are_passed_on_once():
    asyncio.set_event_loop(asyncio.new_event_loop())
    runner = RedisRunner(Jobs(), run=1)
    sid = runner.sid
    ready = ("ready", {"pid": 1, "host": "a", "step": 0, "replay": False})
    feed(runner, sid, [ready, *steps_of(range(1, 26))])
    feed(runner, sid, [("checkpoint", {"step": 25}), *steps_of(range(26, 31))])
    feed(runner, "another-session", steps_of(range(1, 3)))  # not this runner's
    # the worker died at step 30; the slice starts again from the checkpoint at 25
    again = ("ready", {"pid": 2, "host": "b", "step": 25, "replay": True})
    feed(runner, sid, [again, *steps_of(range(26, 34)), ("reply", {"ok": True, "cmd": 0})])
    passed = drain(runner)
    assert [p["step"] for k, p in passed if k == "step"] == list(range(1, 34))
    assert [k for k, _ in passed].count("checkpoint") == 1
    assert runner.pid == 2 and runner.host == "b"
    # the same command's reply, sent again by a later redelivery, is not passed on twice
    feed(runner, sid, [("reply", {"ok": True, "cmd": 0}), ("reply", {"ok": True, "cmd": 1})])
    assert [p for k, p in drain(runner) if k == "reply"] == [{"ok": True}]


def test_a_gap_in_the_stream_fails_the_session_instead_of_skipping_steps():
    asyncio.set_event_loop(asyncio.new_event_loop())
    runner = RedisRunner(Jobs(), run=1)
    feed(runner, runner.sid, steps_of(range(1, 4)))
    feed.q[runner.sid] += 10  # ten entries trimmed before they were read
    feed(runner, runner.sid, steps_of(range(14, 15)))
    passed = drain(runner)
    assert passed[-1] is None  # the end: the service sees the worker gone, and why
    assert [p["step"] for k, p in passed[:-1] if k == "step"] == [1, 2, 3]
    assert not runner.alive and "10 lost" in runner.describe_exit()
