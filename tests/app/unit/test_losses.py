"""The loss curve as it grows (app.past.losses) and the probe lines (app.past.probes)."""

from array import array

from app.contract.events import MatrixHealth, StepEvent
from app.past.losses import EMA_BETA, Losses
from app.past.probes import ProbeLines
from tests.conftest import step_event


def event(step: int, loss: float) -> StepEvent:
    return step_event(
        step,
        loss,
        run_steps=10,
        total=10,
        eta=0.1,
        probes=[],
        health=[MatrixHealth(name="wte", grad_norm=2.0, update_ratio=0.5)],
    )


def test_add_step_smooths_the_loss_with_a_bias_corrected_ema():
    losses = Losses()
    first = losses.add_step(event(1, 3.0), 7, array("d", [1.0]), {})
    second = losses.add_step(event(2, 2.0), 7, array("d", [1.0]), {})
    m = (1 - EMA_BETA) * 3.0
    m = EMA_BETA * m + (1 - EMA_BETA) * 2.0
    assert first == 3.0 and second == m / (1 - EMA_BETA**2)
    assert losses.history == [(1, 3.0, first), (2, 2.0, second)]
    assert losses.health == [(1, (2.0,), (0.5,)), (2, (2.0,), (0.5,))]
    assert [row.segment for row in losses.pending] == [7, 7]


def test_rewind_goes_on_smoothing_from_the_kept_history():
    losses = Losses()
    for k in range(1, 4):
        losses.add_step(event(k, 3.0 - k / 10), 1, array("d", [0.0]), {})
    kept = losses.history[:2]
    again = Losses()
    again.rewind(2, kept, [])
    losses.rewind(2, kept)
    assert losses.add_step(event(3, 1.0), 1, array("d", [0.0]), {}) == again.add_step(
        event(3, 1.0), 1, array("d", [0.0]), {}
    )
    assert losses.health[:2] == [h for h in losses.health if h[0] <= 2]


def test_a_checkpoint_takes_the_unsaved_rows_up_to_its_step_once_saved():
    losses = Losses()
    for k in (1, 2, 3):
        losses.add_step(event(k, 2.0), 1, array("d", [k]), {})
    losses.add_validation(2, 1.5)
    rows, validation = losses.unsaved(2)
    assert [r.step for r in rows] == [1, 2] and validation == [(2, 1.5)]
    assert [r.step for r in losses.pending] == [1, 2, 3]  # not saved yet: kept
    losses.saved(2)
    assert [r.step for r in losses.pending] == [3] and losses.pending_val == []
    assert set(losses.pending_weights()) == {3} and losses.pending_lr(3) == 0.01


def test_a_new_segment_measuring_a_step_again_replaces_its_held_out_loss():
    losses = Losses()
    losses.add_validation(0, 3.3)
    losses.add_validation(50, 2.5)
    losses.add_validation(50, 2.4)
    assert losses.validation == [(0, 3.3), (50, 2.4)]


def test_probe_lines_keep_each_step_and_forget_after_a_rewind():
    lines = ProbeLines()
    lines.reset(["e"])
    for step in (0, 1, 2, 3):
        lines.add(step, {"e": array("d", [step / 10]), "x": array("d", [1.0])})
    assert lines.line("e", since=1) == ([2, 3], [array("d", [0.2]), array("d", [0.3])])
    assert lines.at("e", 2) == [0.2] and lines.at("x", 2) is None
    lines.rewind(1)
    assert lines.line("e") == ([0, 1], [array("d", [0.0]), array("d", [0.1])])
    assert lines.at("e", 3) is None
