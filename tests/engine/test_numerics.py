"""Training never crashes on numbers: a stable loss, and a clean stop when it would diverge."""

import math

import pytest

from engine import Diverged, Trainer, load_names
from engine.autograd import Value, cross_entropy
from engine.reference import ReferenceGPT


def test_loss_of_a_certain_wrong_guess_is_large_and_finite():
    # p(target) = exp(-2000) underflows to 0: the textbook −log p takes the log of 0
    logits = [Value(0.0), Value(2000.0), Value(0.0)]

    loss, p_target = cross_entropy(logits, 0)

    assert p_target == 0.0
    assert loss.data == pytest.approx(2000.0, rel=1e-12)
    loss.backward()
    assert [x.grad for x in logits] == pytest.approx([-1.0, 1.0, 0.0])


def test_stable_loss_matches_the_textbook_loss_where_both_are_defined():
    trainer, reference = Trainer(), ReferenceGPT(load_names())
    trainer.begin_run(5)
    reference_losses = [reference.train_step(step, 5) for step in range(5)]
    losses = [trainer.train_step().loss for _ in range(5)]
    assert max(abs(a - b) for a, b in zip(losses, reference_losses, strict=True)) < 1e-12


@pytest.mark.parametrize("lr", [0.1, 0.3, 1.0])
def test_high_learning_rates_train_without_error(lr):
    # The probe saw every run at lr >= 0.1 fail with "math domain error" within 42 steps.
    trainer = Trainer(lr=lr)
    trainer.begin_run(60)
    losses = [rec.loss for rec in trainer.steps()]
    assert len(losses) == 60 and all(math.isfinite(x) for x in losses)


def test_a_non_finite_loss_stops_before_the_update_and_names_the_step():
    trainer = Trainer()
    trainer.begin_run(10)
    for _ in range(3):
        trainer.train_step()
    m, v, t = list(trainer.adam.m), list(trainer.adam.v), trainer.adam.t
    trainer.model.state_dict["wpe"][0][0].data = math.nan  # every document passes position 0
    weights = trainer.weights()

    with pytest.raises(Diverged, match="diverged at step 4") as caught:
        trainer.train_step()

    assert caught.value.step == 4
    assert trainer.step == 3 and trainer.adam.t == t
    assert trainer.adam.m == m and trainer.adam.v == v  # Adam's moments are not poisoned
    after = trainer.weights()
    assert after["wte"] == weights["wte"] and after["lm_head"] == weights["lm_head"]
    assert all(p.grad == 0.0 for p in trainer.model.params)


def test_a_gradient_too_large_to_square_stops_the_step():
    trainer = Trainer()
    trainer.begin_run(1)
    before = trainer.weights()
    original = trainer.adam.update

    def update_with_huge_gradient(values, grads, lr_t):
        grads[0] = 1e300  # its square overflows: the norm is inf
        return original(values, grads, lr_t)

    trainer.adam.update = update_with_huge_gradient
    with pytest.raises(Diverged, match="gradient is not finite"):
        trainer.train_step()
    assert trainer.weights() == before and trainer.step == 0
