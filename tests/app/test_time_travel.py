"""Any past step, exactly as it was: /api/predict, /api/samples and /api/params with ``step=k``
answer with the weights of step k (and its gradient, update and Adam moments), checked against
the textbook engine trained k steps (engine/reference.py), also after a restart; the page's
view of step k names the name it read and its loss; a step outside the model's history gets a
422 naming the range.

One fresh seed-42 server for the module; the tests run in order.
"""

import json
import re
import sqlite3
import struct

import pytest

from app.store import kept
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
def server(own_server):
    """A server of this module's own: tests restart it and rewrite its database."""
    return own_server


@pytest.fixture(scope="module")
def textbook():
    """What the textbook engine says at each viewed step: probabilities after "em", weights."""
    ref = ReferenceGPT(load_names())
    seen, loss = {}, None
    for step in range(RUN + 1):
        if step in VIEWED:
            seen[step] = {
                "probs": textbook_probs(ref, "em"),
                "weights": [p.data for p in ref.params],
                "m": list(ref.m),
                "v": list(ref.v),
                "grads": getattr(ref, "last_grads", None),
                "before": getattr(ref, "last_before", None),
                "doc": ref.docs[(step - 1) % len(ref.docs)] if step else None,
                "loss": loss,
            }
        if step < RUN:
            loss = ref.train_step(step, RUN)
    return seen


@pytest.fixture(scope="module")
def trained(server):
    return server.train(RUN)


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
    check_params(trained, textbook)
    assert trained.get("/api/probes", params={"char": "l"}).json()["steps"] == list(range(RUN + 1))


def flat(matrices: list[dict], lens: str) -> list[float] | None:
    """One lens of /api/params, flat in parameter order (None when the server says null)."""
    if matrices[0][lens] is None:
        return None
    return [x for mat in matrices for row in mat[lens] for x in row]


def worst(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def check_params(server, textbook) -> None:
    for k in VIEWED:
        r = server.get("/api/params", params={"step": k})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["step"] == k
        seen, mats = textbook[k], body["matrices"]
        assert worst(flat(mats, "value"), seen["weights"]) < 1e-9, k
        assert worst(flat(mats, "m"), seen["m"]) < 1e-9, k
        assert worst(flat(mats, "v"), seen["v"]) < 1e-9, k
        if k == 0:  # no step made the first weights: nothing to show for backward and update
            assert flat(mats, "grad") is None and flat(mats, "update") is None
            continue
        assert worst(flat(mats, "grad"), seen["grads"]) < 1e-9, k
        update = [a - b for a, b in zip(seen["weights"], seen["before"], strict=True)]
        assert worst(flat(mats, "update"), update) < 1e-9, k


def test_every_parameter_of_a_past_step_is_as_it_was(trained, textbook):
    check_params(trained, textbook)
    # the binary form the page draws carries the same step
    r = trained.get("/api/params.bin", params={"step": 4})
    assert r.status_code == 200
    n = int.from_bytes(r.content[:4], "little")
    assert json.loads(r.content[4 : 4 + n])["step"] == 4


@pytest.mark.parametrize("path", ["/api/params", "/api/params.bin"])
def test_params_of_a_step_outside_the_history_are_refused_with_the_range(trained, path):
    r = trained.get(path, params={"step": RUN + 1})
    assert r.status_code == 422
    assert f"step {RUN + 1} is not in this model's history" in r.json()["detail"]
    assert f"from 0 to {RUN}" in r.json()["detail"]


def test_the_page_shows_what_a_past_step_read_and_how_it_scored(trained, textbook):
    for k in (1, 9):
        r = trained.get("/ui/view", params={"step": k, "prefix": "em"})
        assert r.status_code == 200
        page = r.text
        assert f'Viewing step <strong data-testid="view-step-number">{k}</strong>' in page
        assert f'“<span data-testid="recipe-doc">{textbook[k]["doc"]}</span>”' in page
        loss = re.search(r'data-testid="recipe-loss">([0-9.]+)<', page).group(1)
        assert abs(float(loss) - textbook[k]["loss"]) < 5e-5  # shown with 4 decimals
        assert f"at step {k}:" in page  # the "e" bars' description
        assert 'hx-target="#predict"' in page  # and "Ask the model" answers for "em" at k
    # step 0: the start of the history, no name to show
    assert "Step 0 is where this model’s" in trained.get("/ui/view?step=0").text
    bad = trained.get("/ui/view", params={"step": "x"}).text
    assert "step must be a whole number, got &#39;x&#39;" in bad


def test_a_link_to_a_step_opens_the_page_viewing_it(trained, textbook):
    page = trained.get("/", params={"step": 4}).text
    assert 'data-testid="view-step-number">4</strong>' in page
    assert textbook[4]["doc"] in page
    page = trained.get("/", params={"step": 99}).text
    assert "step 99 is not in this model&#39;s history" in page


def test_the_probability_after_e_over_all_steps(trained):
    r = trained.get("/api/probes", params={"prefix": "e", "char": "l"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["steps"] == list(range(RUN + 1))
    for k in (0, 4, RUN):  # each point is what the model said then
        probs = trained.get("/api/predict", params={"prefix": "e", "step": k}).json()["probs"]
        assert body["probs"][k] == probs[11]  # "l"
    later = trained.get("/api/probes", params={"char": "l", "since": 9}).json()
    assert later["steps"] == [10, 11, 12]
    r = trained.get("/api/probes", params={"char": "ll"})
    assert r.status_code == 422 and "char 'll' is not in the vocabulary" in r.json()["detail"]
    r = trained.get("/api/probes", params={"char": "l", "prefix": "q"})
    assert r.status_code == 422 and "prefix 'q' is not a probe" in r.json()["detail"]


def test_steps_trained_before_adams_moments_were_kept_show_the_rest(trained, textbook):
    # a database from before schema 5 has every step's weights but no moments: the past
    # step's gradient and update are still exact, its m and v are null (not made up)
    weights = [
        (k, kept.pack(struct.pack(f"<{len(v)}d", *v)))  # as the store keeps an array
        for k in range(RUN + 1)
        for v in [flat(trained.get("/api/params", params={"step": k}).json()["matrices"], "value")]
    ]
    checkpoint = trained.get("/api/checkpoint").text  # whole: no kept state to read it from
    trained.stop()
    with sqlite3.connect(trained.data_dir / "microgpt.sqlite3") as db:
        model = db.execute("SELECT MAX(model) FROM checkpoints").fetchone()[0]
        db.executemany(
            "INSERT OR REPLACE INTO weights VALUES (?, ?, ?)", [(model, *w) for w in weights]
        )
        db.execute("UPDATE checkpoints SET data=? WHERE model=?", (checkpoint, model))
        db.execute("DELETE FROM moments")
    trained.start()
    body = trained.get("/api/params", params={"step": 9}).json()
    assert flat(body["matrices"], "m") is None and flat(body["matrices"], "v") is None
    assert worst(flat(body["matrices"], "grad"), textbook[9]["grads"]) < 1e-9


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
