"""The worker supervisor's children die with it (app.jobs.worker_main.die_with): SIGKILL the
supervisor mid-run and no orphan goes on training; a new supervisor's worker finishes the run,
every step once, on the unbroken curve."""

import os
import signal
from pathlib import Path

import pytest

from tests.conftest import EventStream
from tests.redis.conftest import Workers
from tests.redis.test_redis_mode import (
    assert_unbroken_curve,
    create,
    history,
    run_state,
    wait_until,
)


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its new parent to reap it)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture
def own_workers(redis_server, tmp_path):
    pools: list[Workers] = []

    def start() -> Workers:
        pools.append(Workers(redis_server.url, 1, tmp_path / f"workers{len(pools)}.log").start())
        return pools[-1]

    yield start
    for pool in pools:
        pool.stop()


def test_a_killed_supervisors_workers_stop_and_a_new_worker_finishes_the_run(
    web, workers, own_workers
):
    workers.stop()  # only this test's supervisor trains
    first = own_workers()
    children = first.children()
    steps = 120
    run = create(web, steps=steps)
    events = EventStream(web.url, path=f"/api/runs/{run}/events")
    try:
        assert web.post(f"/api/runs/{run}/train", {}).status_code == 200
        wait_until(lambda: run_state(web, run)["step"] >= 10, 30, "step 10")

        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(5)

        wait_until(lambda: not any(map(alive, children)), 10, "the orphaned workers to stop")
        stopped_at = run_state(web, run)["step"]
        assert stopped_at < steps
        own_workers()  # a new supervisor: its worker takes the slice over
        wait_until(
            lambda: (s := run_state(web, run))["status"] == "idle" and s["step"] == steps,
            60,
            "the run to finish",
        )
        assert_unbroken_curve(history(web, run), steps)
        events.wait_event("step", step=steps, timeout=10)
        assert events.steps() == list(range(1, steps + 1))
    finally:
        events.close()
        workers.start()
