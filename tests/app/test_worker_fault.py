"""A training process killed mid-run: the run fails loudly, the service and the model survive."""

import os
import signal

import pytest


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def killed(server, connect_events):
    """Train, then SIGKILL the training process mid-run; the events the client saw."""
    stream = connect_events(server.url)
    stream.wait_event("status")
    assert server.post("/api/train", {"steps": 3000}).status_code == 200
    state = server.wait_for_state(lambda s: s["step"] >= 40)
    os.kill(state["worker_pid"], signal.SIGKILL)
    stream.wait_event("error")
    stream.wait_event("status", status="failed")
    stream.close()
    return state["worker_pid"], stream.events


def test_reports_the_failure_on_the_stream(killed):
    _, events = killed

    error = next(e for e in events if e.event == "error")
    assert "SIGKILL" in error.data["message"]
    assert error.data["status"] == "failed" and error.data["step"] % 25 == 0


def test_keeps_serving_with_the_run_marked_failed(server, killed):
    response = server.get("/api/state")

    assert response.status_code == 200
    state = response.json()
    assert state["status"] == "failed"
    assert state["run"]["status"] == "failed" and "SIGKILL" in state["run"]["reason"]
    assert state["step"] == state["checkpoint_step"] and state["step"] >= 25
    assert server.get("/api/predict", params={"prefix": "em"}).status_code == 200


def test_keeps_the_last_checkpoint_intact(server, killed):
    state = server.state()

    response = server.get("/api/checkpoint")

    assert response.status_code == 200
    assert response.json()["step"] == state["step"]


def test_trains_in_a_new_worker_after_the_failure(server, killed):
    old_pid, _ = killed
    start = server.state()["step"]

    response = server.post("/api/train", {"steps": 20})

    assert response.status_code == 200
    assert response.json()["worker_pid"] not in (None, old_pid)
    done = server.wait_for_state(lambda s: s["status"] == "idle")
    assert done["step"] == start + 20
    points = server.get("/api/history").json()["points"]
    assert [p["step"] for p in points] == list(range(1, start + 21))
