"""A past step replayed from the weights before it is the step training took, bit for bit: its
document, loss, p(target) and gradient, and Adam's m and v folded forward from earlier ones;
also when replays (and graphs, and new models) are made in several threads at once, as the web
process does."""

import threading
from array import array

import pytest

from engine import Trainer
from engine.graph import step_graph
from engine.replay import replay_moments, replay_step

RUN = 12


@pytest.fixture(scope="module")
def run():
    """A 12-step run of the default model: the weights and moments after every step, and each
    step's record and frame (what training saw)."""
    t = Trainer(seed=42)
    t.record = True
    t.begin_run(RUN)
    weights = [array("d", [p.data for p in t.model.params])]
    moments = [(list(t.adam.m), list(t.adam.v))]
    steps = []
    for rec in t.steps():
        steps.append((rec, t.last_frame))
        weights.append(array("d", [p.data for p in t.model.params]))
        moments.append((list(t.adam.m), list(t.adam.v)))
    return t, weights, moments, steps


def test_a_replayed_step_is_the_step_training_took(run):
    t, weights, _, steps = run
    for k in (1, 5, RUN):
        past = replay_step(t.config, t.tokenizer, t.docs, weights[k - 1], k)
        rec, frame = steps[k - 1]
        assert past.doc == rec.doc and past.tokens == rec.tokens
        assert past.loss == rec.loss and past.target_probs == rec.target_probs
        assert past.grads == frame.grads and past.grad_norm == rec.grad_norm


def test_adams_moments_fold_forward_from_an_earlier_step(run):
    t, weights, moments, _ = run
    grads = [replay_step(t.config, t.tokenizer, t.docs, weights[i - 1], i).grads for i in (4, 5, 6)]
    m, v = replay_moments(*moments[3], grads)
    assert list(m) == moments[6][0] and list(v) == moments[6][1]


def test_replays_graphs_and_new_models_in_several_threads_at_once_are_exact(run):
    t, weights, _, steps = run
    errors: list[str] = []

    def replay(k: int) -> None:
        for _ in range(3):
            past = replay_step(t.config, t.tokenizer, t.docs, weights[k - 1], k)
            if past.grads != steps[k - 1][1].grads:
                errors.append(f"step {k}: gradient differs")

    def graph(k: int) -> None:
        g = step_graph(t.config, t.tokenizer, t.docs, weights[k - 1], k)
        if g.data[g.loss] != steps[k - 1][0].loss:
            errors.append(f"graph of step {k}: loss differs")

    def models() -> None:
        for seed in range(5):
            Trainer(seed=seed)  # makes parameters (Values) while other threads record

    threads = [threading.Thread(target=replay, args=(k,)) for k in (2, 7, 11)]
    threads += [threading.Thread(target=graph, args=(3,)), threading.Thread(target=models)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
