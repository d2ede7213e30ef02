"""A data directory written by the previous release is migrated: every model it kept becomes a
run, with its steps, its loss curve and its past weights.

The previous release is commit ac6fe0a of this repository (schema 5: one model at a time, a
reset made a new model generation). Its code is extracted from git and served with the same
interpreter and installed dependencies: ``python -m app`` run from the extracted tree imports
its ``app`` package (the working directory comes first on sys.path).
"""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from engine import Trainer
from tests.conftest import LiveServer

PREVIOUS_RELEASE = "ac6fe0a"
REPO = Path(__file__).resolve().parents[2]


def previous_release(into: Path, commit: str = PREVIOUS_RELEASE) -> Path:
    """The files of release ``commit`` in ``into``; skips if git or the commit is unavailable."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the previous release cannot be extracted")
    known = subprocess.run(
        [git, "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
    )
    if known.returncode != 0:
        pytest.skip(f"commit {commit} is not in this checkout's history")
    into.mkdir(parents=True)
    archive = subprocess.run(
        [git, "-C", str(REPO), "archive", commit], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def get_ok(server: LiveServer, path: str, **params) -> dict:
    response = server.get(path, params=params or None)
    assert response.status_code == 200, f"{path}: {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def written_by_the_previous_release(tmp_path_factory):
    """A data dir where the previous release trained model 1 for 30 steps, reset (model 2)
    and trained that 5 steps; what it answered along the way."""
    tmp = tmp_path_factory.mktemp("migration")
    data = tmp / "data"
    old = LiveServer(data, cwd=previous_release(tmp / "old")).start()
    try:
        # it is the previous release: no runs, the segment is called "run"
        assert old.get("/api/runs").status_code == 404
        assert "run" in old.state() and old.state()["model"] == 1
        old.train(30)
        answers = {
            "history": [p["loss"] for p in get_ok(old, "/api/history")["points"]],
            "predict": get_ok(old, "/api/predict", prefix="em", step=10),
        }
        response = old.post("/api/reset")
        assert response.status_code == 200, response.text
        assert response.json()["model"] == 2 and response.json()["step"] == 0
        old.train(5)
        answers["history 2"] = [p["loss"] for p in get_ok(old, "/api/history")["points"]]
    finally:
        old.stop()
    assert len(answers["history"]) == 30 and len(answers["history 2"]) == 5
    return data, answers


@pytest.fixture(scope="module")
def migrated(written_by_the_previous_release):
    data, answers = written_by_the_previous_release
    server = LiveServer(data).start()
    yield server, answers
    server.stop()


def test_lists_every_model_as_a_run_and_keeps_the_current_one_the_default(migrated):
    server, _ = migrated

    runs = get_ok(server, "/api/runs")

    assert [r["id"] for r in runs["runs"]] == [1, 2]
    assert runs["default"] == 2
    first, second = runs["runs"]
    assert (first["name"], first["step"], first["default"]) == ("Run 1", 30, False)
    assert (second["name"], second["step"], second["default"]) == ("Run 2", 5, True)
    for run in (first, second):
        assert run["status"] == "idle" and run["seed"] == 42 and run["lr"] == 0.01
        assert (run["n_embd"], run["n_head"], run["n_layer"], run["block_size"]) == (16, 4, 1, 8)
        assert run["num_params"] == 4064
    assert get_ok(server, "/api/state")["id"] == 2


def test_keeps_each_runs_loss_curve(migrated):
    server, answers = migrated

    first = get_ok(server, "/api/runs/1/history")
    second = get_ok(server, "/api/runs/2/history")

    assert [p["step"] for p in first["points"]] == list(range(1, 31))
    assert [p["loss"] for p in first["points"]] == answers["history"]
    assert [p["loss"] for p in second["points"]] == answers["history 2"]
    assert [s["status"] for s in first["segments"]] == ["done"]
    assert first["segments"][0]["end_step"] == 30


def test_answers_a_past_step_as_the_previous_release_did(migrated):
    server, answers = migrated

    response = server.get("/api/runs/1/predict", params={"prefix": "em", "step": 10})

    assert response.status_code == 200, response.text
    assert response.json() == answers["predict"]


def test_trains_a_migrated_run_further(migrated):
    server, answers = migrated

    response = server.post("/api/runs/1/train", {"steps": 5})

    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 30
    while (state := get_ok(server, "/api/runs/1/state"))["status"] != "idle" or state["step"] < 35:
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    assert state["step"] == 35
    points = get_ok(server, "/api/runs/1/history")["points"]
    assert [p["step"] for p in points] == list(range(1, 36))
    assert [p["loss"] for p in points[:30]] == answers["history"]
    assert get_ok(server, "/api/runs/2/state")["step"] == 5  # the other run is untouched


# ---- the previous release killed mid-segment ----


@pytest.fixture(scope="module")
def cut_off_in_the_previous_release(tmp_path_factory):
    """A data dir where the previous release was killed (SIGKILL) while training model 1: its
    segment was left "running" with the model at its step-25 checkpoint."""
    tmp = tmp_path_factory.mktemp("migration-crash")
    data = tmp / "data"
    old = LiveServer(data, cwd=previous_release(tmp / "old")).start()
    try:
        assert old.post("/api/pace", {"steps_per_sec": 50}).status_code == 200
        assert old.post("/api/train", {"steps": 40}).status_code == 200
        old.wait_for_state(lambda s: s["step"] >= 30)
        old.kill()
    finally:
        old.stop()
    return data


def uninterrupted(steps: int) -> list[float]:
    """The losses of one segment of ``steps`` from a fresh seed-42 model, never cut off (this
    release's engine, the same code the worker runs)."""
    trainer = Trainer(seed=42)
    trainer.begin_run(steps)
    return [record.loss for record in trainer.steps()]


def test_resumes_a_segment_the_previous_release_was_cut_off_in(cut_off_in_the_previous_release):
    server = LiveServer(cut_off_in_the_previous_release).start()
    want = uninterrupted(40)
    try:
        state = get_ok(server, "/api/runs/1/state")
        assert state["status"] == "interrupted" and state["step"] == 25
        assert state["segment"]["status"] == "interrupted" and state["segment"]["end_step"] == 40
        losses = [p["loss"] for p in get_ok(server, "/api/runs/1/history")["points"]]
        assert len(losses) == 25

        response = server.post("/api/runs/1/resume")

        assert response.status_code == 200, response.text
        server.wait_idle_at(40)
        points = get_ok(server, "/api/runs/1/history")["points"]
        assert [p["step"] for p in points] == list(range(1, 41))
        worst = max(abs(p["loss"] - w) for p, w in zip(points, want, strict=True))
        assert worst <= 1e-12, f"the resumed segment is off the uninterrupted one by {worst}"
    finally:
        server.stop()
