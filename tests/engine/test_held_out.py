"""Held-out documents: the last tenth of the shuffled list is never trained on, and a fixed
sample of it scores the model. Checked against the textbook engine (engine.reference) told to
hold out the same way, and against the original's order for the names."""

import json

import pytest

from engine import checkpoint
from engine.data import held_out_count, load_names, train_count
from engine.errors import EngineError
from engine.model import GPTConfig
from engine.reference import ReferenceGPT
from engine.train import Trainer

DOCS = [f"{a}{b}" for a in "abcd" for b in "xyz"]  # 12 documents: 10 trained on, 2 held out
SHAPE = {"n_embd": 8, "n_head": 2, "n_layer": 1, "block_size": 4}


@pytest.mark.parametrize(
    ("n", "held"), [(1, 0), (2, 1), (9, 1), (10, 1), (11, 2), (100, 10), (32_033, 3_204)]
)
def test_a_tenth_rounded_up_is_held_out_and_one_document_is_kept_to_train_on(n, held):
    assert held_out_count(n) == held
    assert train_count(n) == n - held


def test_the_names_train_on_28829_documents_in_the_original_order():
    trainer = Trainer()
    reference = ReferenceGPT(load_names())  # the original: no split, docs[step % n]
    assert (trainer.n_train, len(trainer.docs)) == (28_829, 32_033)
    assert trainer.docs == reference.docs  # same shuffle
    rec = [trainer.train_step().doc for _ in range(3)]
    assert rec == reference.docs[:3]
    assert len(trainer.validation_docs) == 32
    assert trainer.validation_docs == reference.docs[28_829 : 28_829 + 32]


def test_a_small_list_wraps_at_its_training_documents_as_the_textbook_engine_does():
    trainer = Trainer(docs=list(DOCS), config=GPTConfig(**SHAPE), seed=3)
    ref = ReferenceGPT(DOCS, seed=3, hold_out=True, **SHAPE)
    assert trainer.n_train == 10 and trainer.docs[10:] == ref.held_out
    trainer.begin_run(25)
    seen = set()
    for k in range(25):
        rec = trainer.train_step()
        seen.add(rec.doc)
        assert abs(rec.loss - ref.train_step(k, 25)) < 1e-12, f"step {k + 1}"
    assert seen == set(trainer.docs[:10])  # every training document, no held-out one
    assert abs(trainer.validation_loss() - ref.held_out_loss(32)) < 1e-12


def test_the_validation_loss_is_the_textbook_engines_and_changes_nothing():
    trainer = Trainer(docs=list(DOCS), config=GPTConfig(**SHAPE), seed=5)
    twin = Trainer(docs=list(DOCS), config=GPTConfig(**SHAPE), seed=5)
    ref = ReferenceGPT(DOCS, seed=5, hold_out=True, **SHAPE)
    before = trainer.validation_loss()
    assert abs(before - ref.held_out_loss(32)) < 1e-12
    for trained in (trainer, twin):
        trained.begin_run(6)
    for _ in range(6):
        trainer.validation_loss()  # measured between steps on one, not on the other
        trainer.train_step()
        twin.train_step()
    assert trainer.weights() == twin.weights() and trainer.rng.getstate() == twin.rng.getstate()
    assert trainer.validation_loss() < before  # 6 steps on 10 similar words: it generalises


def test_one_document_holds_nothing_out_and_has_no_validation_loss():
    trainer = Trainer(docs=["solo"], config=GPTConfig(**SHAPE))
    assert trainer.n_train == 1 and trainer.validation_docs == []
    assert trainer.validation_loss() is None


def test_a_checkpoint_keeps_the_split():
    trainer = Trainer(docs=list(DOCS), config=GPTConfig(**SHAPE))
    trainer.begin_run(12)
    for _ in range(12):
        trainer.train_step()
    d = json.loads(json.dumps(trainer.to_dict()))
    assert d["n_train"] == 10
    restored = Trainer.from_dict(d)
    assert restored.n_train == 10
    assert restored.train_step().doc == trainer.train_step().doc == trainer.docs[2]


def legacy(trainer):
    """The checkpoint as a release before held-out documents wrote it."""
    d = json.loads(json.dumps(trainer.to_dict()))
    del d["n_train"]
    return d


def test_a_checkpoint_from_before_the_split_takes_it_only_if_it_has_not_gone_past_it():
    trainer = Trainer(docs=list(DOCS), config=GPTConfig(**SHAPE))
    trainer.begin_run(10)
    for _ in range(10):
        trainer.train_step()
    assert Trainer.from_dict(legacy(trainer)).n_train == 10  # steps 1..10 read the same docs
    trainer.train_step()  # an old release's step 11 read docs[10], now held out: keep all 12
    old = Trainer.from_dict(legacy(trainer))
    assert old.n_train == 12 and old.validation_loss() is None
    assert Trainer.from_dict(old.to_dict()).n_train == 12  # and says so from now on


@pytest.mark.parametrize("bad", [9, 11, -1, "10", 10.0, None, True])
def test_a_checkpoint_with_another_split_is_refused_by_name(bad):
    d = Trainer(docs=list(DOCS), config=GPTConfig(**SHAPE)).to_dict()
    d["n_train"] = bad
    with pytest.raises(EngineError, match=r"n_train = .*must be 10 .* or 12 "):
        checkpoint.trainer_from_dict(d)
