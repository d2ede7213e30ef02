"""A disk that fills up or turns read-only under a training run, on a real small file system
(a tmpfs, mounted as root; skipped where mounting is not permitted): the run stops at its last
stored checkpoint, at most one checkpoint interval behind what was shown, says why (state,
page, /healthz), survives a restart, and resumes from there once space returns; requests
that need a write answer 507/503 with the reason; a data directory read-only at start is one
clear line and a non-zero exit (issue 25)."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.store.write_failure import write_failure
from tests.conftest import REPO, TEST_ENV, EventStream, LiveServer

CHECKPOINT_EVERY = 25  # the default setting
SIZE_MB = 16
LEFT_FREE = 1_000_000  # bytes the filler leaves: a few dozen steps of the default model


def mount(path: Path, *options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    opts = ",".join((f"size={SIZE_MB}m", *options))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    path = tmp_path_factory.mktemp("disk") / "mnt"
    if not mount(path):
        pytest.skip("mount -t tmpfs is not permitted here")
    yield path
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture(scope="module")
def server(disk, tmp_path_factory):
    server = LiveServer(disk / "data")
    server.log_path = tmp_path_factory.mktemp("logs") / "server.log"  # not on the full disk
    server.start()
    yield server
    try:
        server.stop()
    except RuntimeError:
        server.kill()


def fill(disk: Path, leave: int) -> Path:
    """A file taking all but ``leave`` bytes of the disk."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.truncate(0)
        chunk = b"\0" * (1 << 20)
        left = max(0, free - leave)
        while left > 0:
            left -= f.write(chunk[: min(left, len(chunk))])
    return filler


def run_state(server, run=1):
    return server.get(f"/api/runs/{run}/state").json()


def wait_run(server, predicate, run=1, timeout=90):
    return server.wait_for_state(lambda _: predicate(run_state(server, run)), timeout)


def test_a_full_disk_stops_the_run_at_its_last_checkpoint_and_says_why(server, disk):
    filler = fill(disk, LEFT_FREE)
    events = EventStream(server.url, path="/api/runs/1/events")
    try:
        assert server.post("/api/runs/1/train", {"steps": 200}).status_code == 200
        wait_run(server, lambda s: s["status"] not in ("training", "queued"))
        state = run_state(server)
        shown = max(events.steps() or [0])
    finally:
        events.close()

    assert state["status"] == "failed"  # never idle, never "done"
    reason = state["segment"]["reason"]
    assert reason.startswith("the disk is full") and "press Resume" in reason
    durable = state["step"]
    assert durable % CHECKPOINT_EVERY == 0 and durable < 200
    assert 0 <= shown - durable <= CHECKPOINT_EVERY  # nothing shown beyond one interval
    health = server.get("/healthz").json()
    assert health["status"] == "degraded" and "disk is full" in health["reason"]
    page = server.get("/?run=1").text
    assert "the disk is full" in page  # by the buttons, with Resume

    # a restart keeps what was stored: the model is where the state said
    server.stop()
    server.start()
    after = run_state(server)
    assert after["step"] == durable and after["status"] in ("failed", "interrupted")

    # space returns: Resume goes on from the stored step to the end of the segment
    filler.unlink()
    assert server.post("/api/runs/1/resume").status_code == 200
    done = wait_run(server, lambda s: s["status"] == "idle", timeout=120)
    assert run_state(server)["step"] == 200, done
    history = server.get("/api/runs/1/history").json()
    assert [p["step"] for p in history["points"]] == list(range(1, 201))
    assert server.get("/healthz").json()["status"] == "ok"


def test_requests_that_need_a_write_answer_507_with_the_reason(server, disk):
    filler = fill(disk, 0)
    try:
        # the largest shape (~2 MB a first checkpoint): the database's own slack (its log
        # file keeps its size) takes a few, then the disk says no
        big = {"name": "big", "n_embd": 32, "n_layer": 2, "block_size": 16}
        for _ in range(20):
            made = server.post("/api/runs", big)
            if made.status_code != 201:
                break
        assert made.status_code == 507, made.text
        assert made.json()["detail"].startswith("the disk is full")
        assert server.get("/healthz").json()["status"] == "degraded"
        assert server.get("/api/runs/1/state").status_code == 200  # the server is up, reads
    finally:
        filler.unlink()
    assert server.post("/api/runs", big).status_code == 201
    assert server.get("/healthz").json()["status"] == "ok"


def test_a_read_only_database_is_a_503_with_the_reason(tmp_path):
    path = tmp_path / "ro.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as raised:
        ro.execute("INSERT INTO t VALUES (1)")
    failure = write_failure(raised.value, tmp_path)
    assert failure.status_code == 503 and "read-only" in failure.reason


def test_a_data_dir_read_only_at_start_is_one_line_and_a_non_zero_exit(server, disk):
    server.stop()
    remount(disk, "ro")
    try:
        env = {**os.environ, **TEST_ENV}
        done = subprocess.run(
            [sys.executable, "-m", "app", "--port", "0", "--data-dir", str(disk / "data")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        remount(disk, "rw")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "read-only" in lines[0], done.stderr
