"""Redis mode: runs train in slices on `microgpt-live worker` processes through Dramatiq, and
come back through Redis Streams, to the same numbers as an embedded run.

- six runs at once on two worker processes (a slice of each waits behind the others'):
  paused at once, resumed, each the engine's curve for its seed, every step once, both
  workers used;
- workers SIGKILLed mid-slice (once before the run's first checkpoint, once with a Pause
  pressed before the slice is redelivered): the run goes on from its last checkpoint on
  another worker, the pause is obeyed where the page saw the run, the history and the event
  stream have every step once, and the curve is still the original microgpt's;
- the web process SIGKILLed mid-run: restarted, it closes the sessions it left open (no
  worker trains for nobody), and the run resumes from its stored checkpoint, event ids above
  every earlier one;
- Redis restarted empty: the web process and the workers reconnect by themselves, the run
  that was training fails back to its stored checkpoint (nothing stored is lost) and resumes
  to the curve of an unbroken run.
"""

import os
import signal
import time

import pytest
import redis

from engine import Trainer, load_names
from engine.reference import ReferenceGPT
from tests.conftest import EventStream

REFERENCE_LOSS = {  # ../shared/docs/microgpt-reference.md: seed 42, names.txt, 500 steps
    1: 3.3630094726947277,
    50: 2.4203954240114873,
    100: 4.009267876995115,
    500: 2.085911542417134,
}


def engine_losses(seed: int, steps: int) -> list[float]:
    """Every step's loss of the fast engine, which tests/engine ties to the textbook one."""
    trainer = Trainer(seed=seed)
    trainer.begin_run(steps)
    return [rec.loss for rec in trainer.steps()]


def create(web, **settings) -> int:
    made = web.post("/api/runs", settings)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def run_state(web, run: int) -> dict:
    return web.get(f"/api/runs/{run}/state").json()


def history(web, run: int) -> list[tuple[int, float]]:
    points = web.get(f"/api/runs/{run}/history").json()["points"]
    return [(p["step"], p["loss"]) for p in points]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.15)  # a poll can be six requests: often enough, and cheap
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def holder(redis_server) -> tuple[int, int] | None:
    """(pid, step) of the worker holding a running slice now, if one does."""
    client = redis.Redis.from_url(redis_server.url)
    for key in client.scan_iter("mgl:session:*"):
        if key.count(b":") != 2:
            continue
        state, who = client.hmget(key, "state", "holder")
        lease_key = key + b":lease"
        if state == b"running" and who and client.exists(lease_key):
            return int(who.split(b"@")[0])
    return None


def assert_unbroken_curve(points: list[tuple[int, float]], steps: int) -> None:
    """Every step once, in order, each the loss of an unbroken seed-42 run of ``steps``."""
    assert [s for s, _ in points] == list(range(1, steps + 1))
    assert [loss for _, loss in points] == engine_losses(42, steps)
    textbook = ReferenceGPT(load_names())
    assert abs(textbook.train_step(0, steps) - points[0][1]) < 1e-9


def assert_reference_curve(points: list[tuple[int, float]]) -> None:
    """The default run's curve: the original microgpt's figures, at every step the engine's."""
    assert_unbroken_curve(points, 500)
    losses = dict(points)
    for step, loss in REFERENCE_LOSS.items():
        assert abs(losses[step] - loss) < 1e-9, (step, losses[step], loss)


def test_six_runs_on_two_workers_pause_at_once_and_resume_to_their_seeds_curves(web, workers):
    steps, seeds = 40, range(1, 7)
    runs = {seed: create(web, seed=seed, steps=steps) for seed in seeds}
    for run in runs.values():  # six runs on two workers: a slice of each waits its turn
        # paced, so that no run can finish before every one has trained a little
        assert web.post(f"/api/runs/{run}/pace", {"steps_per_sec": 20}).status_code == 200
        assert web.post(f"/api/runs/{run}/train", {}).status_code == 200
    pids = set()

    def states() -> list[dict]:
        got = [run_state(web, run) for run in runs.values()]
        pids.update(s["worker_pid"] for s in got if s["worker_pid"])
        return got

    wait_until(lambda: all(s["step"] >= 10 for s in states()), 30, "step 10 in every run")
    for run in runs.values():
        started = time.monotonic()
        paused = web.post(f"/api/runs/{run}/pause")
        assert paused.status_code == 200, paused.text
        assert time.monotonic() - started < 5  # not a whole rotation of the queue
    for run in runs.values():
        state = run_state(web, run)
        assert state["status"] == "paused" and state["step"] == state["checkpoint_step"]
        assert [s for s, _ in history(web, run)] == list(range(1, state["step"] + 1))
    for run in runs.values():
        assert web.post(f"/api/runs/{run}/pace", {"steps_per_sec": None}).status_code == 200
        assert web.post(f"/api/runs/{run}/resume").status_code == 200
    wait_until(
        lambda: all(s["status"] == "idle" and s["step"] == steps for s in states()), 60, "the end"
    )
    for seed, run in runs.items():
        points = history(web, run)
        assert [s for s, _ in points] == list(range(1, steps + 1))  # every step, once
        losses = [loss for _, loss in points]
        assert losses == engine_losses(seed, steps), f"seed {seed}"
        textbook = ReferenceGPT(load_names(), seed=seed)  # the independent oracle, 2 steps
        for step in range(2):
            assert abs(textbook.train_step(step, steps) - losses[step]) < 1e-9
    assert pids <= set(workers.children()) and len(pids) == 2  # both workers trained


def kill_the_holder(web, run, redis_server) -> tuple[int, int]:
    """SIGKILL the worker training ``run``'s slice now: (its pid, the run's step then)."""
    victim = wait_until(lambda: holder(redis_server), 10, "a worker holding the slice")
    step = run_state(web, run)["step"]
    os.kill(victim, signal.SIGKILL)
    return victim, step


def test_killed_workers_runs_go_on_elsewhere_from_their_checkpoints(web, workers, redis_server):
    run = create(web)  # the default: seed 42, 500 steps
    events = EventStream(web.url, path=f"/api/runs/{run}/events")
    try:
        assert web.post(f"/api/runs/{run}/train", {}).status_code == 200
        # killed before the run's first periodic checkpoint (step 25): it starts again there
        wait_until(lambda: run_state(web, run)["step"] >= 3, 30, "step 3")
        first, before = kill_the_holder(web, run, redis_server)
        killed_at = time.monotonic()
        wait_until(lambda: run_state(web, run)["step"] > before + 30, 30, "training to go on")
        went_on = time.monotonic() - killed_at
        print(f"a SIGKILLed worker's slice went on after {went_on:.1f} s (lease 1 s)")
        # killed mid-slice, and Pause pressed before another worker has the slice: it is
        # obeyed after the steps already sent, where the page saw the run
        wait_until(lambda: run_state(web, run)["step"] >= 130, 60, "step 130")
        second, _ = kill_the_holder(web, run, redis_server)
        paused = web.post(f"/api/runs/{run}/pause")
        assert paused.status_code == 200, paused.text
        state = run_state(web, run)
        assert state["status"] == "paused" and state["step"] == state["checkpoint_step"] >= 130
        assert [s for s, _ in history(web, run)] == list(range(1, state["step"] + 1))
        assert web.post(f"/api/runs/{run}/resume").status_code == 200
        state = wait_until(
            lambda: (s := run_state(web, run))["status"] == "idle" and s["step"] == 500 and s,
            60,
            "the run to finish",
        )
        assert_reference_curve(history(web, run))
        events.wait_event("step", step=500, timeout=10)
        steps, ids = events.steps(), [int(e.id) for e in events.named("step")]
        assert steps == list(range(1, 501)), "a step was seen twice, out of order or not at all"
        assert ids == sorted(set(ids))
        assert "slice redelivered" in web.log()  # the replayed messages were dropped
        assert {first, second}.isdisjoint(workers.children())  # dead, and replaced
        wait_until(lambda: len(workers.children()) == 2, 10, "the supervisor's new workers")
    finally:
        events.close()


def test_redis_restarted_runs_fail_back_to_their_checkpoint_and_resume(web, redis_server):
    run = create(web, steps=150)
    assert web.post(f"/api/runs/{run}/train", {}).status_code == 200
    wait_until(lambda: run_state(web, run)["step"] >= 60, 60, "step 60")
    redis_server.restart()  # empty: no persistence
    # failed, and back at its stored checkpoint (the status turns first, then the model is
    # reloaded from the store: a state read in between shows the old step)
    failed = wait_until(
        lambda: (
            (s := run_state(web, run))["status"] == "failed"
            and s["step"] == s["checkpoint_step"]
            and s
        ),
        20,
        "the run to fail back to its checkpoint",
    )
    assert failed["checkpoint_step"] >= 50
    kept = history(web, run)
    assert [s for s, _ in kept] == list(range(1, failed["step"] + 1))
    # the workers reconnect by themselves: the run resumes and ends as an unbroken one would
    resumed = wait_until(
        lambda: web.post(f"/api/runs/{run}/resume").status_code == 200, 20, "resume"
    )
    assert resumed
    wait_until(
        lambda: (s := run_state(web, run))["status"] == "idle" and s["step"] == 150,
        90,
        "the resumed run to finish",
    )
    assert_unbroken_curve(history(web, run), 150)


def test_a_killed_web_process_closes_its_orphans_at_restart_and_the_run_resumes(web, redis_server):
    run = create(web, steps=150)
    before = EventStream(web.url, path=f"/api/runs/{run}/events")
    assert web.post(f"/api/runs/{run}/train", {}).status_code == 200
    wait_until(lambda: run_state(web, run)["step"] >= 60, 60, "step 60")
    web.kill()  # nothing gets to pause the run or close its session
    last_id = max(int(e.id) for e in before.events if e.id)
    before.close()
    web.start()
    client = redis.Redis.from_url(redis_server.url)
    sessions = [k for k in client.scan_iter("mgl:session:*") if k.count(b":") == 2]
    assert sessions and {client.hget(k, "state") for k in sessions} == {b"closed"}
    state = run_state(web, run)
    assert state["status"] == "interrupted" and state["step"] == state["checkpoint_step"]
    after = EventStream(web.url, last_event_id=str(last_id), path=f"/api/runs/{run}/events")
    try:
        assert web.post(f"/api/runs/{run}/resume").status_code == 200
        wait_until(
            lambda: (s := run_state(web, run))["status"] == "idle" and s["step"] == 150,
            60,
            "the resumed run to finish",
        )
        assert_unbroken_curve(history(web, run), 150)
        after.wait_event("step", step=150, timeout=10)
        assert all(int(e.id) > last_id for e in after.events if e.id)  # ids only grow
        steps = after.steps()
        assert steps == sorted(set(steps)) and steps[0] == state["step"] + 1
    finally:
        after.close()


@pytest.fixture(autouse=True)
def _quiet(web):
    """Each test starts with no run training (the six of the first are done by then)."""
    yield
    web.stop_all()
