"""``engine.checkpoint.at_step``: a later checkpoint moved back to step k with that step's
weights and Adam moments is the model as it was at k, and trains on into the very same steps."""

import json

import pytest

from engine import EngineError, GPTConfig, Trainer
from engine.checkpoint import at_step

CONFIG = GPTConfig(n_embd=8, n_head=2, n_layer=1, block_size=6)


def trained(steps: int) -> Trainer:
    t = Trainer(config=CONFIG, seed=3)
    t.begin_run(steps)
    for _ in t.steps():
        pass
    return t


def test_a_later_checkpoint_moved_to_step_k_trains_on_as_the_model_did_from_k():
    t = Trainer(config=CONFIG, seed=3)
    t.begin_run(12)
    for _ in range(5):
        t.train_step()
    at_5 = t.flat_state()
    after = [t.train_step().loss for _ in range(3)]  # steps 6, 7, 8 of the original
    later = json.loads(json.dumps(t.to_dict()))

    fork = Trainer.from_dict(at_step(later, 5, *at_5))

    assert fork.step == 5 and fork.adam.t == 5 and fork.run_remaining == 0
    assert fork.flat_state() == at_5
    fork.begin_run(7)  # the original's schedule from step 5: 12 steps from step 0 ...
    fork.run_start, fork.run_steps = 0, 12  # ... so every learning rate is the same too
    assert [fork.train_step().loss for _ in range(3)] == after


def test_the_first_loss_after_k_does_not_depend_on_the_new_schedule():
    t = trained(5)
    state = t.flat_state()
    expected = Trainer.from_dict(t.to_dict())
    expected.begin_run(1)
    first = expected.train_step().loss

    fork = Trainer.from_dict(at_step(trained(9).to_dict(), 5, *state))
    fork.begin_run(40)

    assert fork.train_step().loss == first


def test_a_wrong_number_of_parameters_is_named():
    d = trained(2).to_dict()
    values, m, v = Trainer.from_dict(d).flat_state()

    with pytest.raises(EngineError, match=f"has {len(values)} parameters, got 3"):
        at_step(d, 1, values[:3], m[:3], v[:3])
