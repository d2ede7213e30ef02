"""An upper-case prefix reads as lower case when the vocabulary has no upper case (names),
and stays as typed when it has some (a model trained on other documents)."""

import pytest

from engine import EngineError, GPTConfig, Trainer

SMALL = GPTConfig(n_embd=16, n_head=4, n_layer=1, block_size=6)


@pytest.fixture(scope="module")
def names():
    return Trainer().predictor()


@pytest.fixture(scope="module")
def mixed():
    """A vocabulary with upper case: A, B, a, b, o."""
    return Trainer(docs=["Abba", "Bob", "abo"], config=SMALL).predictor()


@pytest.mark.parametrize(("typed", "read"), [("Em", "em"), ("EM", "em"), ("eM", "em"), ("", "")])
def test_normalize_prefix_lowers_upper_case_when_the_vocabulary_has_none(names, typed, read):
    assert names.normalize_prefix(typed) == read


def test_an_upper_case_prefix_answers_as_its_lower_case(names):
    assert names.distribution("Em") == names.distribution("em")
    assert names.attention("Em") == names.attention("em")
    assert names.greedy("Em") == names.greedy("em")
    assert names.encode_prefix("Em") == names.encode_prefix("em")


def test_a_character_with_no_lower_case_in_the_vocabulary_is_named_as_typed(names):
    assert names.normalize_prefix("eÉ1") == "eÉ1"
    with pytest.raises(EngineError, match="'É' is not in the vocabulary"):
        names.distribution("eÉ")


def test_normalize_prefix_refuses_what_is_not_text(names):
    with pytest.raises(EngineError, match="prefix must be text"):
        names.normalize_prefix(None)


def test_a_vocabulary_with_upper_case_keeps_the_prefix_as_typed(mixed):
    assert mixed.tokenizer.allowed() == "ABabo"
    assert mixed.normalize_prefix("Ab") == "Ab"
    assert mixed.normalize_prefix("aB") == "aB"
    assert mixed.encode_prefix("Ab") != mixed.encode_prefix("ab")
    with pytest.raises(EngineError, match="'O' is not in the vocabulary"):
        mixed.distribution("BO")  # not lowered to "bo": this vocabulary tells cases apart
