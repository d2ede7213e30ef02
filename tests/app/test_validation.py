"""Bad input: 422 (or 413) with a JSON detail that names the bad value and what is allowed."""

import json
import time

import httpx
import pytest

from engine import Predictor


@pytest.fixture(scope="module", autouse=True)
def fresh_default_run(server):
    """live_server's default run is a fresh one of this module's (it asks about its vocabulary)."""


def get(url, path, **params):
    return httpx.get(url + path, params=params, timeout=30)


def post(url, path, **kw):
    return httpx.post(url + path, timeout=30, **kw)


def test_rejects_a_prefix_character_outside_a_to_z(live_server):
    response = get(live_server, "/api/predict", prefix="e1")  # ("eM" reads as "em")

    assert response.status_code == 422
    assert "'1'" in response.json()["detail"]
    assert "abcdefghijklmnopqrstuvwxyz" in response.json()["detail"]


def test_rejects_a_prefix_longer_than_the_context_window_allows(live_server):
    response = get(live_server, "/api/predict", prefix="abcdefgh")

    assert response.status_code == 422
    assert "'abcdefgh'" in response.json()["detail"] and "7" in response.json()["detail"]


def test_predicts_for_the_longest_prefix_that_fits(live_server):
    response = get(live_server, "/api/predict", prefix="abcdefg", k=3)

    assert response.status_code == 200
    body = response.json()
    assert len(body["probs"]) == 27 and abs(sum(body["probs"]) - 1) < 1e-9
    assert body["vocab"][-1] == "[BOS]" and len(body["top"]) == 3
    assert body["tokens"] == ["[BOS]", *"abcdefg"]
    assert len(body["attention"]) == 1 and len(body["attention"][0]) == 4
    assert [len(row) for row in body["attention"][0][0]] == list(range(1, 9))


@pytest.mark.parametrize("steps", [0, 10001, -5])
def test_rejects_steps_outside_1_to_10000(live_server, steps):
    response = post(live_server, "/api/train", json={"steps": steps})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'steps'" in detail and str(steps) in detail


@pytest.mark.parametrize("steps", ["ten", 5.5, "5", True])
def test_rejects_steps_that_are_not_an_integer(live_server, steps):
    response = post(live_server, "/api/train", json={"steps": steps})

    assert response.status_code == 422
    assert "'steps'" in response.json()["detail"]


def test_a_train_request_without_steps_trains_the_runs_steps_setting(live_server):
    run = post(live_server, "/api/runs", json={"steps": 7}).json()

    response = post(live_server, f"/api/runs/{run['id']}/train", json={})

    assert response.status_code == 200
    assert response.json()["segment"]["steps"] == 7
    deadline = time.monotonic() + 30
    while get(live_server, f"/api/runs/{run['id']}/state").json()["status"] != "idle":
        assert time.monotonic() < deadline, "the 7 steps never finished"
        time.sleep(0.05)
    assert get(live_server, f"/api/runs/{run['id']}/state").json()["step"] == 7


def test_rejects_a_learning_rate_outside_0_to_1(live_server):
    response = post(live_server, "/api/train", json={"steps": 5, "lr": 3})

    assert response.status_code == 422
    assert "'lr'" in response.json()["detail"]


@pytest.mark.parametrize("temperature", ["0", "5e-324", "0.009", "-1", "2.5", "hot"])
def test_rejects_temperature_outside_0_to_2(live_server, temperature):
    response = get(live_server, "/api/samples", temperature=temperature)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'temperature'" in detail and temperature in detail


@pytest.mark.parametrize("n", ["0", "51", "many"])
def test_rejects_sample_count_outside_1_to_50(live_server, n):
    response = get(live_server, "/api/samples", n=n)

    assert response.status_code == 422
    assert "'n'" in response.json()["detail"] and n in response.json()["detail"]


def test_samples_names_reproducibly_with_a_seed(live_server):
    first = get(live_server, "/api/samples", n=50, temperature=2, seed=3)
    second = get(live_server, "/api/samples", n=50, temperature=2, seed=3)

    assert first.status_code == 200
    assert len(first.json()["samples"]) == 50
    assert first.json()["samples"] == second.json()["samples"]


def test_rejects_malformed_json(live_server):
    response = post(
        live_server,
        "/api/train",
        content=b'{"steps": 4',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert "malformed JSON" in response.json()["detail"]


def test_rejects_unknown_fields(live_server):
    response = post(live_server, "/api/train", json={"steps": 4, "stpes": 5})

    assert response.status_code == 422
    assert "'stpes'" in response.json()["detail"]


def test_rejects_an_oversized_request_body_with_413(live_server):
    body = json.dumps({"steps": 4, "pad": "x" * 20_000})

    response = post(
        live_server, "/api/train", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert "16,384" in response.json()["detail"]


def test_rejects_an_oversized_chunked_body_with_413(live_server):
    def chunks():
        for _ in range(40):
            yield b"x" * 1024

    response = post(
        live_server, "/api/train", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413


def test_rejects_an_oversized_checkpoint_upload_with_413(live_server):
    response = post(
        live_server,
        "/api/checkpoint",
        content=b" " * (4 * 1024 * 1024 + 1),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert "4,194,304" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json", "not valid JSON"),
        (b'{"format": "something else"}', "invalid checkpoint"),
        (b"[1, 2, 3]", "invalid checkpoint"),
        (b"", "empty"),
    ],
)
def test_rejects_an_invalid_checkpoint_upload(live_server, content, expected):
    response = post(
        live_server,
        "/api/checkpoint",
        content=content,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert expected in response.json()["detail"]


def test_rejects_a_checkpoint_with_corrupted_weights(live_server):
    checkpoint = httpx.get(live_server + "/api/checkpoint", timeout=30).json()
    checkpoint["weights"]["wte"][0] = checkpoint["weights"]["wte"][0][:-1]

    response = post(live_server, "/api/checkpoint", json=checkpoint)

    assert response.status_code == 422
    assert "'wte'" in response.json()["detail"]


def test_answers_unknown_paths_with_a_json_404(live_server):
    response = get(live_server, "/api/nope")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_publishes_an_openapi_spec_with_the_schemas(live_server):
    response = get(live_server, "/openapi.json")

    assert response.status_code == 200
    schemas = response.json()["components"]["schemas"]
    assert {"StateOut", "TrainIn", "PredictOut", "HistoryOut", "SamplesOut"} <= set(schemas)


def test_predict_answers_the_greedy_completion_of_the_served_weights(live_server):
    checkpoint = get(live_server, "/api/checkpoint").json()

    response = get(live_server, "/api/predict", prefix="em")

    assert response.status_code == 200
    greedy = response.json()["greedy"]
    assert greedy.startswith("em") and len(greedy) <= 8
    assert greedy == Predictor.from_dict(checkpoint).greedy("em")


@pytest.mark.parametrize("temperature", ["0", "5e-324", "2.5", "nan", "hot"])
def test_page_samples_explain_a_temperature_outside_0_to_2_inline(live_server, temperature):
    response = get(live_server, "/ui/samples", temperature=temperature)

    assert response.status_code == 200  # a fragment for the samples card, not an error page
    expected = f"temperature must be a number from 0.01 to 2, got &#39;{temperature}&#39;"
    assert expected in response.text
