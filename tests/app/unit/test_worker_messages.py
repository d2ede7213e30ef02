"""The worker message union (app.contract.worker): every kind crosses the Redis wire and the
pipe (pickle) as the same message, and a StepEvent is only extended after the worker."""

import pickle
from array import array

import pytest

from app.contract.events import MatrixHealth, Probe, StepEvent
from app.contract.worker import (
    MESSAGES,
    Checkpoint,
    Diverged,
    Done,
    Error,
    Frame,
    Params,
    Ready,
    Reply,
    Step,
    Validation,
    Weights,
)
from app.jobs import wire

A = array("d", [0.1, -0.0, 5e-324, 1 / 3])
EVENT = StepEvent(
    step=3,
    run_step=3,
    run_steps=10,
    total=10,
    loss=2.5,
    lr=0.01,
    doc="em",
    tokens=["[BOS]", "e", "m", "[BOS]"],
    target_probs=[0.1, 0.2, 0.3],
    grad_norm=1.0,
    step_time=0.01,
    steps_per_sec=60.0,
    elapsed=0.05,
    eta=0.1,
    probes=[Probe(prefix="e", probs=[0.5, 0.5])],
    health=[MatrixHealth(name="wte", grad_norm=1.0, update_ratio=0.01)],
    t=1.0,
)
EVERY_KIND = [
    Ready(pid=1, step=0),
    Params(step=3, tokens=[26, 4, 12, 26], before=A, grads=A, values=A, m=A, v=A),
    Step(event=EVENT, weights=A),
    Validation(step=3, loss=2.2),
    Weights(step=3, values=A),
    Checkpoint(
        step=3,
        run_id=1,
        reason="pause",
        data="{}",
        elapsed=1.5,
        frame=Frame(step=3, tokens=[1], before=A, grads=A),
        weights=A,
        m=A,
        v=A,
    ),
    Done(run_id=1, step=10),
    Diverged(run_id=1, step=4, message="the loss is nan", checkpoint_step=0),
    Reply(ok=True, step=3, cmd=2),
    Error(message="training failed"),
]


def test_the_union_has_one_model_per_kind():
    assert len({m.kind for m in EVERY_KIND}) == len(EVERY_KIND)


@pytest.mark.parametrize("message", EVERY_KIND, ids=lambda m: m.kind)
def test_every_kind_crosses_the_wire_and_the_pipe_unchanged(message):
    fields = wire.encode(message, "s")
    received = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}
    assert wire.decode(received) == ("s", message)
    assert pickle.loads(pickle.dumps(message)) == message
    assert MESSAGES.validate_python(message.model_dump()) == message


def test_arrays_cross_as_raw_doubles_not_json():
    fields = wire.encode(Weights(step=3, values=A), "s")
    assert fields["b:values"] == A.tobytes() and "values" not in fields["j"]


def test_a_step_event_is_extended_not_rebuilt():
    extended = EVENT.model_copy(update={"run": 4, "segment": 9, "smooth": 2.4, "single": True})
    assert (extended.run, extended.segment, extended.smooth, extended.single) == (4, 9, 2.4, True)
    assert extended.probes is EVENT.probes  # the worker's lists, as sent
