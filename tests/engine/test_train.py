"""Training: step records, schedule, resumable state, custom datasets."""

import json
import math
import random

import pytest

from engine import EngineError, GPTConfig, Trainer, load_names
from engine.data import names_in_order
from engine.optim import get_lr
from engine.reference import ReferenceGPT


def test_step_record_describes_the_step():
    trainer = Trainer()
    trainer.begin_run(500)
    rec = trainer.train_step()
    assert (rec.step, rec.run_step, rec.run_steps) == (1, 1, 500)
    assert rec.lr == 0.01
    assert rec.doc == trainer.docs[0]
    assert rec.tokens == [26, *trainer.tokenizer.encode(rec.doc), 26]
    n = min(8, len(rec.tokens) - 1)
    assert len(rec.target_probs) == n
    # The loss is the mean of −log p(target) over the positions.
    mean_nll = sum(-math.log(p) for p in rec.target_probs) / n
    assert rec.loss == pytest.approx(mean_nll, rel=1e-12)
    assert rec.grad_norm > 0 and rec.elapsed > 0


def test_target_probabilities_are_those_of_the_model_before_the_update():
    trainer = Trainer()
    doc = trainer.docs[0]
    before = trainer.predictor()
    rec = trainer.train_step()
    for pos, p in enumerate(rec.target_probs):
        prefix = doc[:pos]
        target = rec.tokens[pos + 1]
        assert p == pytest.approx(before.distribution(prefix)[target], rel=1e-12)


def test_cosine_schedule_spans_the_run():
    assert get_lr(0.01, 0, 500) == 0.01
    assert get_lr(0.01, 250, 500) == pytest.approx(0.005)
    assert get_lr(0.01, 499, 500) == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi * 499 / 500)))


def test_gradient_norm_matches_the_textbook_gradients():
    trainer = Trainer()
    ref = ReferenceGPT(load_names())
    rec = trainer.train_step()
    # Recompute the textbook gradient of the first step without its update.
    ref_model = ReferenceGPT(load_names())
    doc = ref_model.docs[0]
    tokens = [ref_model.bos] + [ref_model.uchars.index(c) for c in doc] + [ref_model.bos]
    n = min(8, len(tokens) - 1)
    keys, values = [[]], [[]]
    from engine.reference import softmax

    losses = []
    for pos in range(n):
        probs = softmax(ref_model.gpt(tokens[pos], pos, keys, values))
        losses.append(-probs[tokens[pos + 1]].log())
    ((1 / n) * sum(losses)).backward()
    ref_norm = math.sqrt(sum(p.grad**2 for p in ref_model.params))
    assert rec.grad_norm == pytest.approx(ref_norm, rel=1e-10)
    assert ref.params  # the oracle builds the same parameter list


def test_ten_plus_ten_steps_with_a_checkpoint_between_equal_twenty_steps():
    straight = Trainer()
    straight.begin_run(20)
    straight_losses = [r.loss for r in straight.steps()]

    first = Trainer()
    first.begin_run(20)
    losses = [first.train_step().loss for _ in range(10)]
    resumed = Trainer.from_dict(json.loads(json.dumps(first.to_dict())))
    assert resumed.run_remaining == 10
    losses += [r.loss for r in resumed.steps()]

    assert losses == straight_losses
    assert resumed.to_dict() == straight.to_dict()


def test_new_run_continues_weights_and_adam_state():
    trainer = Trainer()
    trainer.begin_run(5)
    list(trainer.steps())
    trainer.begin_run(3)
    recs = list(trainer.steps())
    assert [r.step for r in recs] == [6, 7, 8]
    assert [r.run_step for r in recs] == [1, 2, 3]
    assert recs[0].lr == 0.01  # the schedule restarts for the new run
    assert trainer.adam.t == 8


def test_custom_documents_get_their_own_vocabulary():
    trainer = Trainer(docs=["abba", "baab", "", "  cab "], seed=1)
    assert trainer.tokenizer.chars == ["a", "b", "c"]
    assert trainer.config.vocab_size == 4
    assert trainer.num_params == 4 * 16 * 2 + 8 * 16 + 4 * 16 * 16 + 2 * 64 * 16
    trainer.begin_run(3)
    assert all(math.isfinite(r.loss) for r in trainer.steps())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"docs": []}, "dataset is empty"),
        ({"docs": ["", "  "]}, "dataset is empty"),
        ({"lr": 0}, "learning rate"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_invalid_training_setup_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(EngineError, match=message):
        Trainer(**kwargs)


@pytest.mark.parametrize("steps", [0, -1, 1.5, True])
def test_invalid_run_length_is_refused(steps):
    with pytest.raises(EngineError, match="steps"):
        Trainer().begin_run(steps)


@pytest.mark.parametrize(
    ("field", "value"),
    [("n_embd", 0), ("n_head", -1), ("n_layer", 0), ("block_size", 0), ("n_embd", 2.5)],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(EngineError, match=field):
        GPTConfig(**{field: value})


def test_n_embd_must_divide_into_heads():
    with pytest.raises(EngineError, match=r"n_embd \(10\) must be divisible by n_head \(4\)"):
        GPTConfig(n_embd=10, n_head=4)


def test_bigger_configs_train():
    trainer = Trainer(config=GPTConfig(n_embd=8, n_head=2, n_layer=2, block_size=4))
    trainer.begin_run(2)
    assert len(list(trainer.steps())) == 2


def test_a_seeds_names_are_the_originals_shuffle_whether_shuffled_anew_or_kept():
    """The names' training order and the random stream after it, kept for the newest seeds
    (a class makes a model per student, then loads it): the original's shuffle, exactly."""
    for seed in (42, 7, 42):
        docs = load_names()
        rng = random.Random(seed)
        rng.shuffle(docs)
        order, after = names_in_order(seed)
        assert list(order) == docs and after == rng.getstate()
        made = Trainer(seed=seed)
        assert made.docs == docs
        assert made.weights()["wte"][0][0] == pytest.approx(rng.gauss(0, 0.02), abs=0)
        assert made.to_dict() == Trainer(seed=seed).to_dict()
