"""A new run's model as made (app.runs.copies.fresh_checkpoint) is the model its stored
checkpoint loads as: the join of a class student does not parse what it just wrote."""

import pytest

from app.contract.api import RunIn
from app.runs.checkpoints import parse_checkpoint
from app.runs.copies import fresh_checkpoint


@pytest.mark.parametrize(
    "spec",
    [
        RunIn(seed=43),
        RunIn(seed=7, n_embd=8, n_head=2, n_layer=2, block_size=4, dataset="states"),
        RunIn(seed=1, dataset={"text": "ada\nbob\ncyd\ndee\neve"}),
    ],
    ids=["names", "an example", "own text"],
)
def test_a_fresh_model_is_what_its_checkpoint_loads_as(spec):
    data, made = fresh_checkpoint(spec)
    loaded = parse_checkpoint(data)
    assert made.d == loaded.d
    assert made.predictor.weights == loaded.predictor.weights
    assert made.predictor.tokenizer.chars == loaded.predictor.tokenizer.chars
    assert made.predictor.config == loaded.predictor.config
    assert (made.dataset, made.documents, made.num_docs, made.docs) == (
        loaded.dataset,
        loaded.documents,
        loaded.num_docs,
        loaded.docs,
    )
    assert made.predictor.distribution("e") == loaded.predictor.distribution("e")
