"""Finite differences on plain floats agree with the autograd gradient of a training step."""

import math

import pytest

from engine import EngineError, Trainer
from engine.gradcheck import doc_loss, numeric_grad, unflatten
from engine.model import param_shapes


@pytest.fixture(scope="module")
def third_step():
    """A seed-42 trainer's recorded step 3 (attn_wo and mlp_fc2 start at 0, so at step 1 the
    gradients of the layer's other matrices are all 0)."""
    trainer = Trainer()
    trainer.record = True
    trainer.begin_run(3)
    records = list(trainer.steps())
    return trainer, records[-1], trainer.last_frame


def test_recording_does_not_change_training(third_step):
    _, rec, _ = third_step
    plain = Trainer()
    plain.begin_run(3)
    assert [r.loss for r in plain.steps()][-1] == rec.loss
    assert plain.last_frame is None


def test_frame_holds_the_step_loss_weights_and_gradient(third_step):
    trainer, rec, frame = third_step
    assert frame.step == 3 == rec.step
    weights = unflatten(trainer.config, frame.before)
    assert abs(doc_loss(trainer.config, weights, frame.tokens) - rec.loss) < 1e-12
    assert math.sqrt(sum(g * g for g in frame.grads)) == pytest.approx(rec.grad_norm, rel=1e-12)
    values, m, v = trainer.flat_state()
    assert len(values) == len(m) == len(v) == len(frame.grads) == trainer.num_params


@pytest.mark.parametrize("name", [name for name, *_ in param_shapes(Trainer().config)])
def test_numeric_gradient_matches_autograd(third_step, name):
    trainer, _, frame = third_step
    weights = unflatten(trainer.config, frame.before)
    grads = unflatten(trainer.config, frame.grads)[name]
    cells = [(r, c) for r, row in enumerate(grads) for c, _ in enumerate(row)]
    largest = max(cells, key=lambda rc: abs(grads[rc[0]][rc[1]]))
    for row, col in [largest, cells[0], cells[len(cells) // 2]]:
        numeric = numeric_grad(trainer.config, weights, frame.tokens, name, row, col)
        autograd = grads[row][col]
        assert abs(numeric - autograd) <= 1e-7 * abs(autograd) + 1e-9, (row, col)
    assert abs(grads[largest[0]][largest[1]]) > 1e-6  # a real test, not 0 == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("nope", 0, 0, 1e-5), "'nope'"),
        (("wte", 27, 0, 1e-5), "row must be 0..26"),
        (("wte", 0, -1, 1e-5), "col must be 0..15"),
        (("wte", 0, 0, 0.0), "h must be in (0, 0.01]"),
        (("wte", 0, 0, 0.1), "got 0.1"),
    ],
)
def test_bad_arguments_are_named(third_step, args, words):
    trainer, _, frame = third_step
    weights = unflatten(trainer.config, frame.before)
    with pytest.raises(EngineError) as e:
        numeric_grad(trainer.config, weights, frame.tokens, *args)
    assert words in str(e.value)
