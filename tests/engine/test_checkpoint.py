"""Checkpoints round-trip every bit; broken ones are refused with a clear message."""

import json

import pytest

from engine import EngineError, Trainer, checkpoint


@pytest.fixture(scope="module")
def state():
    trainer = Trainer()
    trainer.begin_run(10)
    for _ in range(4):
        trainer.train_step()
    return trainer.to_dict()


def test_checkpoint_file_round_trips(tmp_path, state):
    trainer = Trainer.from_dict(state)
    path = tmp_path / "model.json"
    checkpoint.save(trainer, path)
    assert checkpoint.load(path).to_dict() == state


def test_custom_dataset_travels_inside_the_checkpoint():
    trainer = Trainer(docs=["ann", "bob", "cid"], seed=3)
    trainer.train_step()
    restored = Trainer.from_dict(json.loads(json.dumps(trainer.to_dict())))
    assert restored.docs == trainer.docs
    assert restored.train_step().loss == trainer.train_step().loss


def broken(state, **changes):
    d = json.loads(json.dumps(state))
    for key, value in changes.items():
        d[key] = value
    return d


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "something else"}, "format"),
        ({"version": 99}, "version 99"),
        ({"weights": {}}, "weights has no .*wte"),
        ({"config": {"n_embd": 16, "n_head": 3}}, "config has no block_size, n_layer, vocab_size"),
        (
            {"config": dict(vocab_size=27, n_embd=16, n_head=3, n_layer=1, block_size=8)},
            r"^invalid checkpoint: config.n_embd \(16\) must be divisible by config.n_head \(3\)$",
        ),
        ({"chars": "abc"}, "chars do not match"),
        ({"seed": 43}, "digest"),
        ({"step": 999}, "run ended"),
        ({"adam": {"t": 4, "m": [], "v": []}}, r"adam.m = \[\]: must be a list of 4064 numbers"),
    ],
)
def test_broken_checkpoint_is_refused(state, changes, message):
    with pytest.raises(EngineError, match=message):
        Trainer.from_dict(broken(state, **changes))


def test_checkpoint_with_a_missing_field_is_refused(state):
    d = broken(state)
    del d["rng"]
    with pytest.raises(EngineError, match="invalid checkpoint"):
        Trainer.from_dict(d)


def test_unreadable_checkpoint_file_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EngineError, match="not valid JSON"):
        checkpoint.load(bad)
    with pytest.raises(EngineError, match="cannot read"):
        checkpoint.load(tmp_path / "missing.json")


def test_predictor_from_a_checkpoint_predicts_like_the_trainer(state):
    from engine import Predictor

    predictor = Predictor.from_dict(state)
    assert predictor.distribution("em") == Trainer.from_dict(state).predictor().distribution("em")


def test_predictor_from_a_broken_checkpoint_is_refused(state):
    from engine import Predictor

    with pytest.raises(EngineError, match=r"weights\['wpe'\] = \[\[0.0\]\]: must be 8x16"):
        Predictor.from_dict(broken(state, weights={**state["weights"], "wpe": [[0.0]]}))
