"""The default run (seed 42, names.txt) is the original microgpt's computation, step for step.

Reference figures come from ../shared/docs/microgpt-reference.md; the textbook engine
(engine/reference.py) is an independent oracle for every step in between.
"""

import pytest

from engine import Trainer, load_names
from engine.reference import ReferenceGPT

REFERENCE_LOSS = {  # step (1-based) -> loss of the original script
    1: 3.3630094726947277,
    50: 2.4203954240114873,
    100: 4.009267876995115,
    500: 2.085911542417134,
}


@pytest.fixture(scope="module")
def default_run():
    trainer = Trainer()
    trainer.begin_run(500)
    return trainer, [rec.loss for rec in trainer.steps()]


def test_default_model_has_4064_parameters_and_27_tokens():
    trainer = Trainer()
    assert trainer.num_params == 4064
    assert trainer.tokenizer.vocab_size == 27
    assert trainer.tokenizer.bos == 26
    assert len(trainer.docs) == 32033


@pytest.mark.parametrize("step", sorted(REFERENCE_LOSS))
def test_default_run_hits_the_reference_losses(default_run, step):
    _, losses = default_run
    assert abs(losses[step - 1] - REFERENCE_LOSS[step]) < 1e-9


def test_fast_engine_matches_textbook_engine_at_every_step_and_in_its_samples():
    # The first 8 steps of a 500-step run, every one (a textbook step takes ~0.6 s), then 20
    # samples from where they leave the model and the random stream; the reference losses
    # above pin steps 50, 100 and 500 themselves, tests/engine/test_compiled.py holds the
    # compiled step to the object engine bit for bit, and bench/faithfulness.py compares all
    # 500 steps (4-5 minutes of the textbook engine here).
    fast = Trainer()
    fast.begin_run(500)
    ref = ReferenceGPT(load_names())
    ref_losses = [ref.train_step(step, 500) for step in range(8)]
    for step in (1,):  # the oracle itself is the original script
        assert abs(ref_losses[step - 1] - REFERENCE_LOSS[step]) < 1e-9
    losses = [rec.loss for _, rec in zip(ref_losses, fast.steps(), strict=False)]
    assert max(abs(a - b) for a, b in zip(losses, ref_losses, strict=True)) < 1e-9
    fast_names = fast.predictor().sample(20, temperature=0.5, rng=fast.rng)
    assert fast_names == [ref.sample(0.5) for _ in range(20)]


def test_smoothed_loss_falls_during_the_default_run(default_run):
    _, losses = default_run
    first, last = sum(losses[:10]) / 10, sum(losses[-50:]) / 50
    assert first > 3.2  # about ln 27 ≈ 3.30: a uniform guess
    assert last < 2.5
