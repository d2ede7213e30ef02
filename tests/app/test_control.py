"""Commands: train, pause, resume, stop, step, reset — each answers the new state or a 409."""

import time

import pytest

from engine import Trainer


@pytest.fixture
def idle(server):
    """The server is idle (any run from an earlier test is stopped)."""
    server.stop_all()  # a run an earlier test left training would hold a worker
    if server.state()["status"] != "idle":
        assert server.post("/api/stop").status_code == 200
    return server


@pytest.fixture
def training(idle):
    response = idle.post("/api/train", {"steps": 5000})
    assert response.status_code == 200
    idle.wait_for_state(lambda s: s["step"] > s["segment"]["start_step"] + 3)
    yield idle
    if idle.state()["status"] != "idle":
        idle.post("/api/stop")


def test_starts_a_run_and_answers_the_training_state(idle):
    before = idle.state()["step"]

    response = idle.post("/api/train", {"steps": 30})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "training"
    assert body["segment"]["start_step"] == before and body["segment"]["end_step"] == before + 30
    assert body["worker_pid"] > 0
    idle.wait_for_state(lambda s: s["status"] == "idle")
    assert idle.state()["step"] == before + 30


def test_rejects_a_second_train_with_409_when_training(training):
    response = training.post("/api/train", {"steps": 10})

    assert response.status_code == 409
    assert response.json()["status"] == "training"
    assert "training" in response.json()["detail"]


def test_pauses_and_resumes_a_run(training):
    response = training.post("/api/pause")

    assert response.status_code == 200
    paused = response.json()
    assert paused["status"] == "paused" and paused["segment"]["status"] == "paused"
    assert paused["checkpoint_step"] == paused["step"]
    time.sleep(0.3)
    assert training.state()["step"] == paused["step"]

    response = training.post("/api/resume")

    assert response.status_code == 200
    assert response.json()["status"] == "training"
    training.wait_for_state(lambda s: s["step"] > paused["step"] + 5)


def test_stops_a_run_where_it_is(training):
    response = training.post("/api/stop")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "idle" and body["segment"]["status"] == "stopped"
    assert body["checkpoint_step"] == body["step"] < body["segment"]["end_step"]


@pytest.mark.parametrize("command", ["pause", "resume", "stop"])
def test_rejects_command_with_409_naming_the_status_when_idle(idle, command):
    response = idle.post(f"/api/{command}")

    assert response.status_code == 409
    assert response.json()["status"] == "idle"
    assert "idle" in response.json()["detail"]


@pytest.mark.parametrize("command", ["resume", "step"])
def test_rejects_command_with_409_when_training(training, command):
    response = training.post(f"/api/{command}")

    assert response.status_code == 409
    assert response.json()["status"] == "training"


def test_reset_while_training_starts_a_new_run_and_the_old_one_trains_on(training):
    old = training.state()

    response = training.post("/api/reset")

    assert response.status_code == 200
    new = response.json()
    assert new["id"] != old["id"] and new["step"] == 0 and new["status"] == "idle"
    still = training.get(f"/api/runs/{old['id']}/state").json()
    assert still["status"] == "training" and still["step"] >= old["step"]
    training.post(f"/api/runs/{old['id']}/stop")


def test_a_checkpoint_uploaded_while_training_becomes_a_new_run(training):
    old = training.state()
    checkpoint = training.get("/api/checkpoint")

    response = training.post(
        "/api/checkpoint",
        content=checkpoint.content,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 200
    new = response.json()
    assert new["id"] != old["id"] and new["status"] == "idle"
    assert new["step"] == int(checkpoint.headers["x-checkpoint-step"])
    assert training.get(f"/api/runs/{old['id']}/state").json()["status"] == "training"
    training.post(f"/api/runs/{old['id']}/stop")


def test_takes_a_single_step_when_idle(idle):
    before = idle.state()["step"]

    response = idle.post("/api/step")

    assert response.status_code == 200
    body = response.json()
    assert body["step"] == before + 1
    assert body["status"] == "idle" and body["segment"]["steps"] == 1


def test_takes_a_single_step_of_the_run_when_paused(training):
    paused = training.post("/api/pause").json()

    response = training.post("/api/step")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "paused" and body["step"] == paused["step"] + 1
    assert body["segment"]["id"] == paused["segment"]["id"]


def test_reset_starts_a_new_run_with_a_new_seed_and_keeps_the_old_one(idle, open_events):
    old = idle.train(3).state()
    stream = open_events(idle.url)
    stream.wait_event("status")

    response = idle.post("/api/reset", {"seed": 7})

    assert response.status_code == 200
    body = response.json()
    assert body["step"] == 0 and body["seed"] == 7 and body["segment"] is None
    assert body["id"] != old["id"] and idle.state()["id"] == body["id"]
    assert stream.wait_event("reset").data["seed"] == 7
    history = idle.get("/api/history").json()
    assert history["points"] == [] and history["segments"] == []
    kept = idle.get(f"/api/runs/{old['id']}/history").json()
    assert [p["step"] for p in kept["points"]][-1] == old["step"]


def test_resets_with_the_current_seed_when_no_seed_is_given(idle):
    seed = idle.state()["seed"]

    response = idle.post("/api/reset")

    assert response.status_code == 200
    assert response.json()["seed"] == seed and response.json()["step"] == 0


def first_step_loss(seed: int) -> float:
    trainer = Trainer(seed=seed)
    trainer.begin_run(1)
    return trainer.train_step().loss


def test_a_step_after_two_resets_trains_the_newest_run(idle):
    assert idle.post("/api/reset", {"seed": 7}).status_code == 200
    assert idle.post("/api/reset", {"seed": 8}).status_code == 200

    response = idle.post("/api/step")

    assert response.status_code == 200 and response.json()["seed"] == 8
    points = idle.get("/api/history").json()["points"]
    assert abs(points[0]["loss"] - first_step_loss(8)) < 1e-12
