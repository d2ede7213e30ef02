"""A training process killed mid-run: the run fails loudly, the service and the model survive."""

import contextlib
import os
import signal
import threading
import time

import httpx
import pytest


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
    assert state["segment"]["status"] == "failed" and "SIGKILL" in state["segment"]["reason"]
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


# ---- a training process that hangs (here: SIGSTOP) must not hang the service ----

HANG_TIMEOUT = 1.5  # MICROGPT_WORKER_TIMEOUT of this server


@pytest.fixture(scope="module")
def hang_server(server_factory):
    server = server_factory(MICROGPT_WORKER_TIMEOUT=str(HANG_TIMEOUT))
    yield server
    server.stop()


def children(pid: int) -> set[int]:
    """Child pids of ``pid`` (forked from any of its threads)."""
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.update(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def trainers(pid: int) -> set[int]:
    """The training processes of the web process ``pid``: forked by its forkserver
    (app.jobs.local), or its own spawned children where there is no forkserver."""
    found: set[int] = set()
    for child in children(pid):
        line = cmdline(child)
        if b"forkserver" in line:
            found |= children(child)
        elif b"spawn_main" in line and b"resource_tracker" not in line:
            found.add(child)
    return found


def post_with_deadline(server, path, body, seconds=15):
    started = time.monotonic()
    response = httpx.post(server.url + path, json=body, timeout=seconds)
    return response, time.monotonic() - started


def test_fails_the_run_with_503_when_the_worker_stops_answering(hang_server):
    server = hang_server
    assert server.post("/api/train", {"steps": 5000}).status_code == 200
    state = server.wait_for_state(lambda s: s["worker_pid"] and s["step"] > 3)
    os.kill(state["worker_pid"], signal.SIGSTOP)
    try:
        response, took = post_with_deadline(server, "/api/pause", None)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed by the service, as it should be
            os.kill(state["worker_pid"], signal.SIGCONT)

    assert response.status_code == 503 and took < 10
    assert "did not answer" in response.json()["detail"]
    after = server.state()
    assert after["status"] == "failed" and after["segment"]["status"] == "failed"
    assert after["step"] == after["checkpoint_step"] and after["worker_pid"] is None
    assert server.post("/api/resume").status_code == 200  # from its last checkpoint
    server.wait_for_state(lambda s: s["status"] == "training" and s["step"] > after["step"])
    assert server.post("/api/stop").status_code == 200


def test_answers_503_when_a_new_worker_never_gets_ready_and_serves_meanwhile(hang_server):
    """The checkpoint sent to a new worker is larger than a pipe's buffer: writing it to a
    worker that reads nothing must not block the event loop (the start times out, the run
    fails at its checkpoint, and the service answers meanwhile)."""
    server = hang_server
    state = server.state()
    before = trainers(server.proc.pid)
    stopped: list[int] = []

    def stop_the_new_worker():
        deadline = time.monotonic() + 10
        while not stopped and time.monotonic() < deadline:
            for pid in trainers(server.proc.pid) - before:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            time.sleep(0.002)

    catcher = threading.Thread(target=stop_the_new_worker)
    catcher.start()
    result: list = []
    train = threading.Thread(
        target=lambda: result.append(post_with_deadline(server, "/api/train", {"steps": 5}))
    )
    train.start()
    try:
        catcher.join()
        health = httpx.get(server.url + "/healthz", timeout=HANG_TIMEOUT)
        train.join()
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    assert stopped, "no new training process was seen"
    assert health.status_code == 200
    response, took = result[0]
    assert response.status_code == 503 and took < 10
    assert "not ready" in response.json()["detail"]
    after = server.state()
    assert after["status"] == "failed" and after["step"] == state["step"]
    assert server.post("/api/train", {"steps": 5}).status_code == 200
    assert server.wait_for_state(lambda s: s["status"] == "idle")["step"] == state["step"] + 5
