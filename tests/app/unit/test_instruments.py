"""A step's instruments (probes, matrix health, held-out loss) measured by the helper process
beside the training loop (app.jobs.instruments): the same messages, in the same order, with
the same numbers to the bit as when measured inline; nothing lost if the helper dies."""

import os
import signal

import pytest

from app.jobs.loop import TrainerProcess
from app.jobs.step_messages import event_fields
from engine import Trainer

STEPS = 60  # a held-out loss at step 50 and at the end; checkpoints at 25 and 50


class Pipe:
    """The web's end of the pipe: what the training process sent, in order."""

    def __init__(self):
        self.messages = []

    def send(self, message) -> None:
        self.messages.append(message)


# what depends on the clock: a step's timing, and when a params frame is due at full speed
TIMED = {"t", "step_time", "steps_per_sec", "elapsed", "eta"}


def comparable(message) -> tuple:
    d = message.model_dump()
    for key in TIMED:
        d.pop(key, None)
        if isinstance(d.get("event"), dict):
            d["event"].pop(key, None)
    return type(message).__name__, d


def train(helper: bool, steps: int = STEPS, kill_helper_at: int | None = None):
    out = Pipe()
    worker = TrainerProcess(Trainer(seed=42), out, {"helper": helper, "val_every": 50})
    try:
        worker.handle("train", {"run_id": 1, "steps": steps})
        while worker.running:
            if worker.trainer.step == kill_helper_at:
                os.kill(worker.outbox.instruments.pid, signal.SIGKILL)
                os.waitpid(worker.outbox.instruments.pid, 0)
            worker.one_step()
        worker.outbox.flush()
    finally:
        worker.outbox.close()
    return [comparable(m) for m in out.messages if type(m).__name__ != "Params"]


@pytest.fixture(scope="module")
def inline():
    return train(helper=False)


def test_the_helper_sends_what_the_loop_measures_inline_to_the_bit(inline):
    helped = train(helper=True)
    kinds = [kind for kind, _ in helped]
    assert kinds.count("Step") == STEPS
    assert [d["step"] for kind, d in helped if kind == "Validation"] == [0, 50, 60]
    assert kinds[-2:] == ["Checkpoint", "Done"]
    assert helped == inline  # probes, health and held-out losses ==, every message in order


def test_a_helper_killed_mid_run_loses_nothing(inline):
    assert train(helper=True, kill_helper_at=20) == inline


def test_the_helper_holds_no_pipe_of_the_training_process():
    worker = TrainerProcess(Trainer(seed=42), Pipe(), {"helper": True})
    try:
        fds = sorted(int(fd) for fd in os.listdir(f"/proc/{worker.outbox.instruments.pid}/fd"))
        # stdin, stdout, stderr and its own ends of its two pipes: the web's pipes close when
        # the training process ends, whatever the helper does
        assert fds[:3] == [0, 1, 2] and len(fds) == 5
    finally:
        worker.outbox.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(worker.outbox.instruments.pid, os.WNOHANG)  # reaped


@pytest.mark.parametrize("pace", [None, 2.0])
def test_a_step_that_is_not_followed_at_full_speed_goes_out_at_once(pace):
    """Step once, and paced runs: the page hears of each step when it is trained."""
    out = Pipe()
    worker = TrainerProcess(Trainer(seed=42), out, {"helper": True, "pace": pace})
    try:
        if pace is None:  # Step once
            worker.handle("step", {"run_id": 1, "new_run": True})
        else:
            worker.handle("train", {"run_id": 1, "steps": 5})
            worker.one_step()
        assert not worker.outbox.held
        assert [type(m).__name__ for m in out.messages].count("Step") == 1
    finally:
        worker.outbox.close()


def test_an_event_is_made_of_the_step_as_it_was_when_trained():
    """The fields an event takes from the trainer are read at its step, not when sent."""
    t = Trainer(seed=42)
    t.begin_run(3)
    rec = t.train_step()
    fields = event_fields(t, rec, 1, 10.0, 0.1, 0.0)
    t.train_step()
    assert fields["step"] == 1 and fields["eta"] == pytest.approx(2 / 10.0)


def test_a_model_of_another_shape_is_measured_the_same_through_the_pipe():
    """Arrays of the size the shared ring was made for go through it; others in the job."""
    from array import array

    from app.jobs.instruments import Ring

    ring = Ring(4)
    a, b = array("d", [0.5, -1.0, 2.0, 3.0]), array("d", [1.0, 2.0, 3.0, 4.0])
    kind, job = ring.put(a, None, b, True)
    assert kind == "slot" and ring.get(*job[:2]) == [a, None, b]
    assert ring.put(array("d", [1.0]), None, b, False) == (
        "step",
        (array("d", [1.0]), None, b, False),
    )
    for _ in range(Ring.SLOTS):  # a slot comes round again after SLOTS steps
        kind, (slot, _, _) = ring.put(b, b, a, False)
    assert slot == 0 and ring.get(0, [True, True, True]) == [b, b, a]


def test_more_steps_waiting_than_the_ring_has_slots_are_each_measured_right():
    from app.jobs.instruments import Beside, Helper, Ring

    t = Trainer(seed=42)
    t.record = True
    helper, inline = Helper(t.num_params), Beside()
    try:
        helper.use(t, ["", "e"])
        inline.use(t, ["", "e"])
        steps = []
        for _ in range(Ring.SLOTS + 3):
            t.train_step()
            steps.append((t.last_frame.before, t.last_frame.grads, t.flat_values()))
        for step in steps:  # faster than the helper measures: none answered meanwhile
            helper.submit(*step, False)
        for step in steps:
            inline.submit(*step, False)
            assert helper.result() == inline.result()
    finally:
        helper.close()
