"""Restarts and crashes: the model, its step count and its loss history come back."""

import os
import signal
import time

import pytest

PREFIXES = ["", "e", "em", "zzz"]


def distributions(server) -> dict[str, list[float]]:
    return {p: server.get("/api/predict", params={"prefix": p}).json()["probs"] for p in PREFIXES}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def server(server_factory, tmp_path):
    server = server_factory(tmp_path / "data")
    yield server
    server.stop()


def test_keeps_the_trained_model_and_its_step_count_across_a_restart(server):
    assert server.post("/api/train", {"steps": 40}).status_code == 200
    server.wait_for_state(lambda s: s["status"] == "idle")
    before = distributions(server)
    history = server.get("/api/history").json()

    server.restart()

    state = server.state()
    assert state["step"] == 40 and state["status"] == "idle"
    after = distributions(server)
    for prefix in PREFIXES:
        assert max(abs(a - b) for a, b in zip(before[prefix], after[prefix], strict=True)) < 1e-12
    assert server.get("/api/history").json() == history


def test_marks_a_run_cut_off_by_a_restart_interrupted_and_resumes_it(server):
    assert server.post("/api/train", {"steps": 400}).status_code == 200
    server.wait_for_state(lambda s: s["step"] >= 30)

    server.restart()

    state = server.state()
    assert state["status"] == "interrupted"
    assert state["segment"]["status"] == "interrupted" and state["segment"]["end_step"] == 400
    assert 30 <= state["step"] == state["checkpoint_step"] < 400
    points = server.get("/api/history").json()["points"]
    assert [p["step"] for p in points] == list(range(1, state["step"] + 1))

    response = server.post("/api/resume")

    assert response.status_code == 200 and response.json()["status"] == "training"
    done = server.wait_for_state(lambda s: s["status"] == "idle")
    assert done["step"] == 400 and done["segment"]["status"] == "done"
    points = server.get("/api/history").json()["points"]
    assert [p["step"] for p in points] == list(range(1, 401))


def test_recovers_from_the_last_checkpoint_after_the_web_process_is_killed(server):
    assert server.post("/api/train", {"steps": 2000}).status_code == 200
    worker = server.wait_for_state(lambda s: s["step"] >= 60)["worker_pid"]

    server.kill()
    deadline = time.monotonic() + 10
    while pid_alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(worker), "the training process outlived its web process"
    server.start()

    state = server.state()
    assert state["status"] == "interrupted"
    assert state["step"] == state["checkpoint_step"] and state["step"] % 25 == 0
    points = server.get("/api/history").json()["points"]
    assert [p["step"] for p in points] == list(range(1, state["step"] + 1))
    assert server.post("/api/resume").status_code == 200
    server.wait_for_state(lambda s: s["step"] > state["step"] + 10)
    assert server.post("/api/stop").status_code == 200


def test_stops_promptly_on_sigterm_with_streams_open_and_a_run_training(server, open_events):
    streams = [open_events(server.url) for _ in range(3)]
    assert server.post("/api/train", {"steps": 5000}).status_code == 200
    server.wait_for_state(lambda s: s["step"] >= 5)

    started = time.monotonic()
    code = server.stop()

    assert time.monotonic() - started < 5
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    deadline = time.monotonic() + 5
    while not all(s.closed for s in streams) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(s.closed for s in streams)
    assert server.start().state()["status"] == "interrupted"
