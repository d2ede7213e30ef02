"""Checkpoint download and upload round-trip the model exactly; uploads of other vocabularies."""

import json

from engine import Trainer


def train(server, steps):
    assert server.post("/api/train", {"steps": steps}).status_code == 200
    return server.wait_for_state(lambda s: s["status"] == "idle")


def test_downloads_the_checkpoint_as_a_json_attachment(server):
    train(server, 10)

    response = server.get("/api/checkpoint")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "attachment" in response.headers["content-disposition"]
    assert response.json()["step"] == 10


def test_round_trips_the_model_through_download_and_upload(server):
    train(server, 30)
    saved = server.get("/api/checkpoint").content
    before = server.get("/api/predict", params={"prefix": "em"}).json()["probs"]
    step = server.state()["step"]
    train(server, 20)

    response = server.post(
        "/api/checkpoint", content=saved, headers={"content-type": "application/json"}
    )

    assert response.status_code == 200
    assert response.json()["step"] == step and response.json()["status"] == "idle"
    after = server.get("/api/predict", params={"prefix": "em"}).json()["probs"]
    assert max(abs(a - b) for a, b in zip(before, after, strict=True)) < 1e-12
    assert server.get("/api/checkpoint").content == saved


def test_accepts_a_checkpoint_as_a_multipart_file(server):
    saved = server.get("/api/checkpoint").content

    response = server.post("/api/checkpoint", files={"file": ("model.json", saved)})

    assert response.status_code == 200


def test_continues_training_from_an_uploaded_checkpoint(server):
    step = server.state()["step"]

    state = train(server, 5)

    assert state["step"] == step + 5


def upload_custom_vocabulary(server):
    """A model trained on other documents: its vocabulary is a, b, o (no "e")."""
    data = json.dumps(Trainer(docs=["abba", "bob"]).to_dict())
    response = server.post(
        "/api/checkpoint", content=data, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_rejects_a_prefix_outside_an_uploaded_vocabulary_naming_its_characters(server):
    state = upload_custom_vocabulary(server)

    response = server.get("/api/predict", params={"prefix": "be"})

    assert state["vocab"] == ["a", "b", "o", "[BOS]"]
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'e'" in detail and "allowed: abo" in detail
    assert "abcdefghijklmnopqrstuvwxyz" not in detail


def test_trains_a_model_whose_vocabulary_has_no_probe_character(server, open_events):
    state = upload_custom_vocabulary(server)
    stream = open_events(server.url)
    stream.wait_event("status")

    assert server.post("/api/train", {"steps": 10}).status_code == 200
    done = server.wait_idle_at(10)

    assert state["probes"] == [""]  # "e" cannot be asked of this model
    assert done["segment"]["status"] == "done"  # its worker did not fail it
    steps = stream.named("step")
    assert [p["prefix"] for p in steps[-1].data["probes"]] == [""]
    assert len(steps[-1].data["probes"][0]["probs"]) == 4
    body = server.get("/api/predict", params={"prefix": "ab"}).json()
    assert body["greedy"].startswith("ab") and set(body["greedy"]) <= set("abo")
