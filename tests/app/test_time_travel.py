"""Any past step, exactly as it was: /api/predict and /api/samples with ``step=k`` answer with the
weights of step k, checked against the textbook engine trained k steps (engine/reference.py),
also after a restart; a step outside the model's history gets a 422 naming the range.

One fresh seed-42 server for the module; the tests run in order.
"""

import pytest

from engine import GPTConfig, Predictor, Trainer, load_names
from engine.gradcheck import unflatten
from engine.reference import ReferenceGPT, softmax

RUN = 12  # one run of 12 steps: the cosine schedule spans it, as the server's does
VIEWED = (0, 1, 4, 9, 12)


def textbook_probs(ref: ReferenceGPT, prefix: str) -> list[float]:
    """p(next | [BOS] + prefix) by the textbook engine's own forward pass."""
    tokens = [ref.bos] + [ref.uchars.index(ch) for ch in prefix]
    keys, values = [[] for _ in range(ref.n_layer)], [[] for _ in range(ref.n_layer)]
    for pos, token in enumerate(tokens):
        logits = ref.gpt(token, pos, keys, values)
    return [p.data for p in softmax(logits)]


@pytest.fixture(scope="module")
def textbook():
    """What the textbook engine says at each viewed step: probabilities after "em", weights."""
    ref = ReferenceGPT(load_names())
    seen = {}
    for step in range(RUN + 1):
        if step in VIEWED:
            seen[step] = {
                "probs": textbook_probs(ref, "em"),
                "weights": [p.data for p in ref.params],
            }
        if step < RUN:
            ref.train_step(step, RUN)
    return seen


@pytest.fixture(scope="module")
def trained(server):
    assert server.post("/api/train", {"steps": RUN}).status_code == 200
    server.wait_for_state(lambda s: s["status"] == "idle" and s["step"] == RUN)
    return server


def textbook_samples(weights: list[float], seed: int) -> list[str]:
    """The engine's sampler on the textbook engine's weights of that step."""
    config, tokenizer = GPTConfig(), Trainer().tokenizer
    return Predictor(config, tokenizer, unflatten(config, weights)).sample(
        10, temperature=0.5, seed=seed
    )


def check_steps(server, textbook) -> None:
    for k in VIEWED:
        r = server.get("/api/predict", params={"prefix": "em", "step": k})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["step"] == k
        worst = max(abs(a - b) for a, b in zip(body["probs"], textbook[k]["probs"], strict=True))
        assert worst < 1e-9, (k, worst)
        r = server.get("/api/samples", params={"n": 10, "seed": 1, "step": k})
        assert r.status_code == 200, r.text
        assert r.json()["step"] == k
        assert r.json()["samples"] == textbook_samples(textbook[k]["weights"], 1), k


def test_every_step_of_a_run_can_be_asked_as_it_was(trained, textbook):
    check_steps(trained, textbook)
    # before training the distribution is nearly flat; by step 12 it is not the same one
    first = trained.get("/api/predict", params={"prefix": "em", "step": 0}).json()["probs"]
    assert max(first) < 0.06
    now = trained.get("/api/predict", params={"prefix": "em"}).json()
    at_end = trained.get("/api/predict", params={"prefix": "em", "step": RUN}).json()
    assert now["probs"] == at_end["probs"]  # step omitted: the newest step


@pytest.mark.parametrize("step", [RUN + 1, 10_000])
def test_a_step_outside_the_history_is_named_with_the_range(trained, step):
    for path, params in (("/api/predict", {"prefix": "em"}), ("/api/samples", {"n": 3})):
        r = trained.get(path, params={**params, "step": step})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert f"step {step} is not in this model's history" in detail
        assert f"from 0 to {RUN}" in detail


def test_a_negative_step_is_refused_by_name(trained):
    r = trained.get("/api/predict", params={"prefix": "em", "step": -1})
    assert r.status_code == 422
    assert "step" in r.json()["detail"] and "-1" in r.json()["detail"]


def test_past_steps_survive_a_restart(trained, textbook):
    trained.restart()
    check_steps(trained, textbook)


def test_a_loaded_model_is_viewable_from_the_step_it_was_loaded_at(trained, textbook):
    saved = trained.get("/api/checkpoint").content
    r = trained.post("/api/checkpoint", files={"file": ("model.json", saved)})
    assert r.status_code == 200, r.text
    r = trained.get("/api/predict", params={"prefix": "em", "step": RUN})
    assert r.status_code == 200
    assert r.json()["probs"] == pytest.approx(textbook[RUN]["probs"], abs=1e-9)
    r = trained.get("/api/predict", params={"prefix": "em", "step": 4})
    assert r.status_code == 422
    assert f"from {RUN} to {RUN}" in r.json()["detail"]
