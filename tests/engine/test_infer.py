"""Inference on plain floats agrees with the training graph; bad input is named."""

import pytest

from engine import EngineError, Trainer
from engine.autograd import softmax_nodes
from engine.forward import Cache, forward


@pytest.fixture(scope="module")
def trained():
    trainer = Trainer()
    trainer.begin_run(30)
    list(trainer.steps())
    return trainer


def test_distribution_equals_the_graph_forward(trained):
    predictor = trained.predictor()
    ids = [26, *trained.tokenizer.encode("em")]
    ops, cache = trained.model.ops(), Cache.empty(trained.config)
    for token in ids:
        logits = forward(ops, trained.config, token, cache)
    graph_probs = [p.data for p in softmax_nodes(logits)]
    assert predictor.distribution("em") == pytest.approx(graph_probs, abs=1e-15)


def test_shared_beginnings_give_each_prefix_its_own_floats(trained):
    predictor = trained.predictor()
    prefixes = ["e", "", "em", "emma", "e", "zz", "a"]  # unsorted, repeated, nested
    assert predictor.distributions(prefixes) == [predictor.distribution(p) for p in prefixes]
    docs = [trained.tokenizer.tokens(d) for d in ["emma", "emily", "em", "zoe", "emma", "a"]]
    assert predictor.losses(docs) == [predictor.loss(tokens) for tokens in docs]


def test_a_truncated_cache_goes_on_as_a_fresh_one(trained):
    predictor, ids = trained.predictor(), [26, *trained.tokenizer.encode("em")]
    cache = predictor.new_cache()
    for token in [26, *trained.tokenizer.encode("zoe")]:
        predictor.step(token, cache)
    cache.truncate(1)  # back to [BOS]
    assert [predictor.step(t, cache) for t in ids[1:]] == predictor.forward(ids)[0][1:]
    assert cache.attention == predictor.forward(ids)[1]


def test_untrained_distribution_is_nearly_uniform():
    probs = Trainer().predictor().distribution("e")
    assert len(probs) == 27
    assert sum(probs) == pytest.approx(1.0)
    assert all(0.029 < p < 0.045 for p in probs)  # 1/27 ≈ 3.7%


def test_attention_has_one_row_per_position_summing_to_one(trained):
    attention = trained.predictor().attention("emm")
    assert len(attention) == 1 and len(attention[0]) == 4
    for head in attention[0]:
        assert [len(row) for row in head] == [1, 2, 3, 4]
        for row in head:
            assert sum(row) == pytest.approx(1.0)


def test_sampling_with_a_seed_is_reproducible(trained):
    predictor = trained.predictor()
    names = predictor.sample(10, temperature=0.5, seed=7)
    assert names == predictor.sample(10, temperature=0.5, seed=7)
    assert len(names) == 10
    assert all(len(n) <= 8 and set(n) <= set("abcdefghijklmnopqrstuvwxyz") for n in names)


def test_greedy_completion_follows_the_most_likely_character(trained):
    predictor = trained.predictor()
    completion = predictor.greedy("em")
    assert completion.startswith("em") and len(completion) <= 8
    probs = predictor.distribution("em")
    best = max(range(27), key=probs.__getitem__)
    if best != 26:
        assert completion[2] == trained.tokenizer.label(best)


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("e1", "'1' is not in the vocabulary; allowed: abcdefghijklmnopqrstuvwxyz"),
        ("eÉ", "'É'"),  # upper case whose lower case is not in the vocabulary: named as typed
        ("abcdefgh", "at most 7"),
    ],
)
def test_bad_prefix_is_named(trained, prefix, message):
    with pytest.raises(EngineError, match=message):
        trained.predictor().distribution(prefix)


def test_longest_prefix_that_fits_the_window_works(trained):
    assert len(trained.predictor().distribution("abcdefg")) == 27


@pytest.mark.parametrize("temperature", [0, -1.0])
def test_non_positive_temperature_is_refused(trained, temperature):
    with pytest.raises(EngineError, match="temperature"):
        trained.predictor().sample(3, temperature=temperature)
