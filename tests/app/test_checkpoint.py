"""Checkpoint download and upload round-trip the model exactly."""

import pytest


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory()
    yield server
    server.stop()


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
