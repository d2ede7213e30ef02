"""An upper-case prefix is read as lower case when the model's vocabulary has none (names):
/api/predict and the page's "Ask the model" answer "Em" as "em"; a model whose vocabulary has
upper case (trained on other documents) keeps the prefix as typed."""

import json

from engine import GPTConfig, Trainer


def predict(server, prefix: str, **params):
    return server.get("/api/predict", params={"prefix": prefix, **params})


def test_predict_reads_an_upper_case_prefix_as_lower_case(server):
    server.post("/api/train", {"steps": 5}).raise_for_status()  # weights unlike the initial
    server.wait_idle_at(5)

    upper, lower = predict(server, "Em"), predict(server, "em")

    assert upper.status_code == 200, upper.text
    assert lower.status_code == 200, lower.text
    body = upper.json()
    assert body["prefix"] == "em"
    assert body["tokens"] == ["[BOS]", "e", "m"]
    assert body == lower.json()


def test_predict_still_names_a_character_outside_the_vocabulary(server):
    response = predict(server, "Em1")

    assert response.status_code == 422
    assert "'1'" in response.json()["detail"]


def test_the_ask_the_model_box_reads_an_upper_case_prefix_as_lower_case(server):
    response = server.get("/ui/predict", params={"prefix": "EM"})

    assert response.status_code == 200
    assert 'data-testid="prefix-error"' not in response.text
    assert 'data-testid="greedy"' in response.text
    greedy = predict(server, "em").json()["greedy"]
    assert greedy[2:] in response.text  # the completion the model makes of "em"
    # and the panel says what it answered: "em", not what was typed
    assert "Top 5 after “em”" in response.text and "“EM”" not in response.text


def test_a_vocabulary_with_upper_case_keeps_the_prefix_as_typed(server):
    config = GPTConfig(n_embd=16, n_head=4, n_layer=1, block_size=6)
    data = json.dumps(Trainer(docs=["Abba", "Bob", "abo"], config=config).to_dict())
    upload = server.post(
        "/api/checkpoint", content=data, headers={"content-type": "application/json"}
    )
    assert upload.status_code == 200, upload.text

    typed = predict(server, "Ab")
    assert typed.status_code == 200, typed.text
    assert typed.json()["prefix"] == "Ab"
    assert typed.json()["tokens"] == ["[BOS]", "A", "b"]
    refused = predict(server, "BO")  # not lowered: this vocabulary tells the cases apart
    assert refused.status_code == 422
    assert "'O'" in refused.json()["detail"]
