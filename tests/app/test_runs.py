"""Runs, the unit of the API, on real servers: create, read, rename, delete, select; several
runs training at once, each the textbook engine's curve; the FIFO queue of runs waiting for a
worker; a killed worker failing one run only; restarts, reset and uploads keeping every run.

The loss curves are checked against the engine's Trainer and the first steps of each against
``ReferenceGPT`` (engine/reference.py, the textbook engine), stepped on the schedule the server
uses: a segment of N steps is one cosine over its N steps.
"""

import functools
import os
import signal
import threading
import time

import httpx
import pytest

from engine import Trainer, load_names
from engine.model import GPTConfig
from engine.reference import ReferenceGPT
from tests.conftest import EventStream

DEFAULTS = {
    "seed": 42,
    "lr": 0.01,
    "steps": 500,
    "n_embd": 16,
    "n_head": 4,
    "n_layer": 1,
    "block_size": 8,
    "vocab_size": 27,
    "num_params": 4064,
    "dataset": "names",
    "status": "idle",
    "step": 0,
    "loss": None,
    "queue_position": None,
}
SHAPE = ("n_embd", "n_head", "n_layer", "block_size")
SETTINGS = ("seed", "lr", "steps", *SHAPE)
CURVE_STEPS = 15
TEXTBOOK_STEPS = 3  # of each curve: the textbook engine takes ~0.3 s of CPU a step


# ---- helpers ----


@functools.cache
def textbook_losses(steps: int, **settings) -> tuple[float, ...]:
    """The losses of one segment of ``steps`` from a fresh model: the fast engine's, which
    tests/engine ties to the textbook engine's at every step, and the first TEXTBOOK_STEPS of
    them checked here against the textbook engine itself."""
    shape = {k: settings[k] for k in SHAPE if k in settings}
    rest = {k: v for k, v in settings.items() if k not in shape}
    trainer = Trainer(config=GPTConfig(**shape), **rest)
    trainer.begin_run(steps)
    losses = tuple(record.loss for record in trainer.steps())
    ref = ReferenceGPT(load_names(), **settings)
    for step in range(TEXTBOOK_STEPS):
        assert abs(ref.train_step(step, steps, run_step=step) - losses[step]) <= 1e-9
    return losses


def create(server, **settings) -> dict:
    response = server.post("/api/runs", settings)
    assert response.status_code == 201, response.text
    return response.json()


def run_state(server, run: int) -> dict:
    response = server.get(f"/api/runs/{run}/state")
    assert response.status_code == 200, response.text
    return response.json()


def wait_run(server, run: int, predicate, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = run_state(server, run)
        if predicate(state):
            return state
        time.sleep(0.03)
    raise AssertionError(f"run {run} never matched; last: {state}")


def wait_idle(server, run: int, step: int, timeout: float = 30) -> dict:
    return wait_run(server, run, lambda s: s["status"] == "idle" and s["step"] == step, timeout)


def command(server, run: int, name: str, body=None) -> dict:
    response = server.post(f"/api/runs/{run}/{name}", body)
    assert response.status_code == 200, response.text
    return response.json()


def history(server, run: int) -> dict:
    response = server.get(f"/api/runs/{run}/history")
    assert response.status_code == 200, response.text
    return response.json()


def losses(server, run: int) -> list[float]:
    points = history(server, run)["points"]
    assert [p["step"] for p in points] == list(range(1, len(points) + 1))
    return [p["loss"] for p in points]


def assert_curve(got: list[float], want: tuple[float, ...], tol: float = 1e-9) -> None:
    assert len(got) == len(want)
    worst = max(abs(a - b) for a, b in zip(got, want, strict=True))
    assert worst <= tol, f"the curve is off the textbook engine's by {worst}"


def listing(server) -> dict:
    response = server.get("/api/runs")
    assert response.status_code == 200, response.text
    return response.json()


class RunEvents(EventStream):
    """``EventStream`` on one run's stream, /api/runs/{id}/events (EventStream reads the
    default run's /api/events)."""

    def __init__(self, base_url: str, run: int):
        self.events, self.comments, self.closed = [], 0, False
        self._cond = threading.Condition()
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=None))
        self._response = self._client.send(
            self._client.build_request(
                "GET", f"{base_url}/api/runs/{run}/events", headers={"Accept": "text/event-stream"}
            ),
            stream=True,
        )
        assert self._response.status_code == 200
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()


@pytest.fixture
def run_events():
    streams: list[RunEvents] = []

    def connect(server, run: int) -> RunEvents:
        stream = RunEvents(server.url, run)
        streams.append(stream)
        stream.wait_event("status")
        return stream

    yield connect
    for stream in streams:
        stream.close()


@pytest.fixture(scope="module")
def two_workers(server_factory):
    """Two runs may train at once; a checkpoint every 5 steps (the killed-worker test)."""
    server = server_factory(MICROGPT_WORKERS="2", MICROGPT_CHECKPOINT_EVERY="5")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def one_worker(server_factory):
    server = server_factory(MICROGPT_WORKERS="1")
    yield server
    server.stop()


# ---- create, read, rename, delete, select ----


def test_create_run_with_no_settings_gives_microgpts_defaults(two_workers):
    for body in (None, {}):
        response = two_workers.post("/api/runs", body)

        assert response.status_code == 201, response.text
        run = response.json()
        assert {k: run[k] for k in DEFAULTS} == DEFAULTS
        assert run["name"] == f"Run {run['id']}" and run["default"] is True
        state = run_state(two_workers, run["id"])
        assert state["step"] == 0 and state["num_params"] == 4064 and len(state["vocab"]) == 27
        assert state["config"] == {
            "vocab_size": 27,
            "n_embd": 16,
            "n_head": 4,
            "n_layer": 1,
            "block_size": 8,
        }


@pytest.mark.parametrize(
    ("body", "field", "value", "allowed"),
    [
        ({"n_embd": 40}, "n_embd", "40", "32"),
        ({"n_embd": 12, "n_head": 5}, "n_head", "5", "1, 2, 3, 4, 6"),
        ({"block_size": 1}, "block_size", "1", "2"),
        ({"lr": 0}, "lr", "0", "greater than 0"),
        ({"seed": "7"}, "seed", "'7'", "integer"),
    ],
    ids=["n_embd-40", "n_head-5-of-12", "block_size-1", "lr-0", "seed-string"],
)
def test_create_run_refuses_a_bad_setting_naming_it(two_workers, body, field, value, allowed):
    before = [r["id"] for r in listing(two_workers)["runs"]]

    response = two_workers.post("/api/runs", body)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"'{field}'" in detail and f"= {value} " in detail, detail
    assert allowed in detail.split(f"= {value} ", 1)[1], detail
    assert [r["id"] for r in listing(two_workers)["runs"]] == before  # nothing created


def test_create_run_refuses_an_unknown_field_naming_the_allowed_ones(two_workers):
    response = two_workers.post("/api/runs", {"colour": "red"})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "colour" in detail
    # what is allowed: the settings a run takes (app/web/errors.py says only "is not allowed here")
    missing = [f for f in ("name", *SETTINGS) if f not in detail]
    assert not missing, f"the 422 for an unknown field does not name the allowed ones: {detail!r}"


def test_get_rename_and_delete_a_run(two_workers):
    run = create(two_workers, seed=5)["id"]

    got = two_workers.get(f"/api/runs/{run}")
    assert got.status_code == 200
    assert got.json()["id"] == run and got.json()["seed"] == 5

    renamed = httpx.patch(f"{two_workers.url}/api/runs/{run}", json={"name": " baseline "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "baseline"
    assert two_workers.get(f"/api/runs/{run}").json()["name"] == "baseline"
    assert run_state(two_workers, run)["name"] == "baseline"
    assert {r["id"]: r["name"] for r in listing(two_workers)["runs"]}[run] == "baseline"

    blank = httpx.patch(f"{two_workers.url}/api/runs/{run}", json={"name": "   "})
    assert blank.status_code == 200
    assert blank.json()["name"] == f"Run {run}"
    empty = httpx.patch(f"{two_workers.url}/api/runs/{run}", json={"name": ""})
    assert empty.status_code == 422
    assert "name" in empty.json()["detail"]

    deleted = httpx.delete(f"{two_workers.url}/api/runs/{run}")
    assert deleted.status_code == 204
    assert two_workers.get(f"/api/runs/{run}").status_code == 404
    assert two_workers.get(f"/api/runs/{run}/history").status_code == 404
    assert run not in [r["id"] for r in listing(two_workers)["runs"]]


def test_unknown_run_is_404_naming_the_runs(two_workers):
    runs = ", ".join(str(r["id"]) for r in listing(two_workers)["runs"])
    url = f"{two_workers.url}/api/runs/9999"
    answers = {
        "GET": httpx.get(url),
        "PATCH": httpx.patch(url, json={"name": "x"}),
        "DELETE": httpx.delete(url),
        "select": httpx.post(f"{url}/select"),
        "state": httpx.get(f"{url}/state"),
        "train": httpx.post(f"{url}/train", json={"steps": 1}),
        "history": httpx.get(f"{url}/history"),
    }

    for what, response in answers.items():
        assert response.status_code == 404, what
        detail = response.json()["detail"]
        assert "run 9999 does not exist" in detail and detail.endswith(f"the runs are: {runs}")


def test_unprefixed_api_follows_the_newest_run_until_another_is_selected(two_workers):
    older = create(two_workers, seed=21)["id"]
    newer = create(two_workers, seed=22)["id"]
    ask = {"prefix": "e"}
    own = {r: two_workers.get(f"/api/runs/{r}/predict", params=ask).json() for r in (older, newer)}
    assert own[older]["probs"] != own[newer]["probs"]

    assert two_workers.state()["id"] == newer and two_workers.state()["seed"] == 22
    runs = listing(two_workers)
    assert runs["default"] == newer
    assert [r["id"] for r in runs["runs"] if r["default"]] == [newer]
    for _ in range(2):  # the second answer comes from the known-query cache (app.predict.cache)
        assert two_workers.get("/api/predict", params=ask).json() == own[newer]

    selected = two_workers.post(f"/api/runs/{older}/select")

    assert selected.status_code == 200
    assert selected.json()["id"] == older and selected.json()["default"] is True
    assert two_workers.state()["id"] == older and two_workers.state()["seed"] == 21
    assert listing(two_workers)["default"] == older
    for _ in range(2):
        assert two_workers.get("/api/predict", params=ask).json() == own[older]


def test_deleting_the_default_run_leaves_another_run_the_default(two_workers):
    before = create(two_workers, seed=23)["id"]
    doomed = create(two_workers, seed=24)["id"]

    response = httpx.delete(f"{two_workers.url}/api/runs/{doomed}")

    assert response.status_code == 204
    runs = listing(two_workers)
    assert runs["default"] == before  # the run that was the default before it
    assert [r["id"] for r in runs["runs"] if r["default"]] == [before]
    assert two_workers.state()["id"] == before


def test_a_deleted_runs_id_is_never_given_to_a_new_run(two_workers):
    deleted = create(two_workers, seed=31)["id"]  # the highest id
    assert httpx.delete(f"{two_workers.url}/api/runs/{deleted}").status_code == 204

    new = create(two_workers, seed=32)["id"]

    # a page or script still holding the old id (its URL, its stream's reconnect) would act
    # on another run without noticing
    assert new != deleted, f"run {deleted} was deleted and its id was given to a new run"


def test_deleting_the_last_run_leaves_a_fresh_default_run(server_factory):
    server = server_factory()
    only = listing(server)["runs"]
    assert len(only) == 1

    response = httpx.delete(f"{server.url}/api/runs/{only[0]['id']}")

    assert response.status_code == 204
    runs = listing(server)
    assert len(runs["runs"]) == 1
    fresh = runs["runs"][0]
    assert fresh["default"] is True and runs["default"] == fresh["id"]
    assert fresh["step"] == 0 and fresh["seed"] == 42
    assert server.state()["id"] == fresh["id"]
    server.stop()


# ---- several runs at once, each the textbook engine's curve ----


def test_two_runs_trained_at_once_each_give_the_textbook_curve_of_their_seed(two_workers):
    runs = {seed: create(two_workers, seed=seed)["id"] for seed in (42, 7)}
    # 3 s a run: long enough to be seen training side by side however slowly the second starts
    for run in runs.values():
        command(two_workers, run, "pace", {"steps_per_sec": 5})

    started = [command(two_workers, run, "train", {"steps": CURVE_STEPS}) for run in runs.values()]

    assert [s["status"] for s in started] == ["training", "training"]  # no queue: 2 workers
    both = {r["id"]: r["status"] for r in listing(two_workers)["runs"]}
    assert [both[run] for run in runs.values()] == ["training", "training"]
    want = {seed: textbook_losses(CURVE_STEPS, seed=seed) for seed in runs}  # meanwhile
    for seed, run in runs.items():
        wait_idle(two_workers, run, CURVE_STEPS)
        assert_curve(losses(two_workers, run), want[seed])
    assert want[42] != want[7]


def test_a_non_default_shape_gives_the_textbook_curve_of_that_shape(two_workers):
    shape = {"seed": 3, "lr": 0.02, "n_embd": 8, "n_head": 2, "n_layer": 2, "block_size": 4}
    run = create(two_workers, **shape)
    # 27x8 wte + 4x8 wpe + 27x8 lm_head + 2 layers of (4 8x8 + 2 8x32) = 2000
    assert {k: run[k] for k in shape} == shape and run["num_params"] == 2000
    state = run_state(two_workers, run["id"])
    assert state["config"] == {"vocab_size": 27, **{k: shape[k] for k in SHAPE}}

    command(two_workers, run["id"], "train", {"steps": CURVE_STEPS})

    want = textbook_losses(CURVE_STEPS, **shape)
    wait_idle(two_workers, run["id"], CURVE_STEPS)
    assert_curve(losses(two_workers, run["id"]), want)


# ---- the queue: one worker ----


def spans(stream: RunEvents, steps: int) -> tuple[float, float]:
    """When a run's first and last steps of a segment ended (the worker's clock)."""
    stream.wait_event("done")
    events = stream.named("step")
    assert [e.data["run_step"] for e in events] == list(range(1, steps + 1))
    return events[0].data["t"], events[-1].data["t"]


def test_queued_runs_wait_in_order_and_train_one_after_another(one_worker, run_events):
    runs = [create(one_worker)["id"] for _ in range(3)]
    streams = [run_events(one_worker, run) for run in runs]
    for run in runs:
        command(one_worker, run, "pace", {"steps_per_sec": 30})

    first, second, third = (command(one_worker, run, "train", {"steps": 10}) for run in runs)

    assert first["status"] == "training" and first["queue_position"] is None
    assert second["status"] == "queued" and second["queue_position"] == 1
    assert third["status"] == "queued" and third["queue_position"] == 2
    assert isinstance(second["queue_wait"], float) and second["queue_wait"] >= 0
    assert isinstance(third["queue_wait"], float) and third["queue_wait"] >= 0
    assert first["queue_wait"] is None
    listed = listing(one_worker)
    assert listed["workers"] == 1 and listed["queue"] == runs[1:]
    positions = {r["id"]: (r["status"], r["queue_position"]) for r in listed["runs"]}
    assert [positions[r] for r in runs] == [("training", None), ("queued", 1), ("queued", 2)]
    # FIFO, one at a time: each starts after the one before it has ended
    (a0, a1), (b0, b1), (c0, c1) = (spans(s, 10) for s in streams)
    assert a1 < b0 and b1 < c0, [(a0, a1), (b0, b1), (c0, c1)]
    for run in runs:
        wait_idle(one_worker, run, 10)
    assert listing(one_worker)["queue"] == []


def test_pausing_a_queued_run_takes_it_out_and_pausing_a_training_run_frees_its_worker(
    one_worker,
):
    a, b, c = (create(one_worker)["id"] for _ in range(3))
    for run in (a, b, c):
        command(one_worker, run, "pace", {"steps_per_sec": 20})
    assert command(one_worker, a, "train", {"steps": 40})["status"] == "training"
    assert command(one_worker, b, "train", {"steps": 10})["queue_position"] == 1
    assert command(one_worker, c, "train", {"steps": 10})["queue_position"] == 2

    paused_b = command(one_worker, b, "pause")

    assert paused_b["status"] == "paused" and paused_b["queue_position"] is None
    assert paused_b["queue_wait"] is None
    assert listing(one_worker)["queue"] == [c]
    assert run_state(one_worker, c)["queue_position"] == 1
    wait_run(one_worker, a, lambda s: s["step"] >= 3)

    paused_a = command(one_worker, a, "pause")

    assert paused_a["status"] == "paused" and paused_a["worker_pid"] is None
    wait_run(one_worker, c, lambda s: s["status"] == "training")  # a's worker went to c
    assert run_state(one_worker, b)["status"] == "paused"  # b gave up its place
    resumed_a = command(one_worker, a, "resume")
    assert resumed_a["status"] == "queued" and resumed_a["queue_position"] == 1
    resumed_b = command(one_worker, b, "resume")
    assert resumed_b["status"] == "queued" and resumed_b["queue_position"] == 2
    assert listing(one_worker)["queue"] == [a, b]
    command(one_worker, a, "pace", {"steps_per_sec": None})
    command(one_worker, b, "pace", {"steps_per_sec": None})
    for run, end in ((c, 10), (a, 40), (b, 10)):
        wait_idle(one_worker, run, end)
        assert len(losses(one_worker, run)) == end  # steps 1..end, none lost or repeated


def test_queue_wait_counts_the_pace_of_the_run_ahead(one_worker):
    ahead, waiting = create(one_worker)["id"], create(one_worker)["id"]
    command(one_worker, ahead, "pace", {"steps_per_sec": 1})
    assert command(one_worker, ahead, "train", {"steps": 3})["status"] == "training"

    queued = command(one_worker, waiting, "train", {"steps": 3})

    try:
        assert queued["status"] == "queued" and queued["queue_position"] == 1
        # the run ahead takes 3 steps at 1 step/s: about 3 s. Before its first step is measured
        # its time left is guessed from its shape alone (8 ms a step), as if it had no pace
        assert queued["queue_wait"] >= 1.5, (
            f"queue_wait {queued['queue_wait']} s ignores the run ahead's pace (3 steps at 1/s)"
        )
    finally:
        command(one_worker, waiting, "stop")
        command(one_worker, ahead, "stop")


def test_deleting_a_training_run_gives_its_worker_to_the_next(one_worker):
    doomed, next_up = create(one_worker)["id"], create(one_worker)["id"]
    command(one_worker, doomed, "pace", {"steps_per_sec": 20})
    assert command(one_worker, doomed, "train", {"steps": 100})["status"] == "training"
    assert command(one_worker, next_up, "train", {"steps": 5})["status"] == "queued"

    response = httpx.delete(f"{one_worker.url}/api/runs/{doomed}")

    assert response.status_code == 204
    wait_idle(one_worker, next_up, 5)
    runs = listing(one_worker)
    assert doomed not in [r["id"] for r in runs["runs"]] and runs["queue"] == []


def test_restart_interrupts_training_and_queued_runs_and_both_resume(server_factory):
    server = server_factory(MICROGPT_WORKERS="1")
    training, queued = create(server)["id"], create(server)["id"]
    command(server, training, "pace", {"steps_per_sec": 20})
    assert command(server, training, "train", {"steps": 30})["status"] == "training"
    assert command(server, queued, "train", {"steps": 10})["status"] == "queued"
    wait_run(server, training, lambda s: s["step"] >= 3)

    server.restart()

    runs = listing(server)
    status = {r["id"]: (r["status"], r["queue_position"]) for r in runs["runs"]}
    assert status[training] == ("interrupted", None) and status[queued] == ("interrupted", None)
    assert runs["queue"] == []
    cut = run_state(server, training)
    assert cut["step"] >= 3 and cut["step"] == cut["checkpoint_step"]  # paused on the way out
    assert run_state(server, queued)["step"] == 0
    assert command(server, training, "resume")["status"] == "training"
    assert command(server, queued, "resume")["queue_position"] == 1
    for run, end in ((training, 30), (queued, 10)):
        wait_idle(server, run, end)
        assert len(losses(server, run)) == end
    server.stop()


# ---- a killed worker fails its run only ----


PACE = 10  # steps/s of the two runs of the killed-worker tests: 1.5 s for CURVE_STEPS


@pytest.fixture(scope="module")
def killed(two_workers):
    """Two runs training (seeds 42 and 7); the first one's worker SIGKILLed at step 7 or so,
    after its step-5 checkpoint. What each looked like then."""
    victim, other = create(two_workers, seed=42)["id"], create(two_workers, seed=7)["id"]
    for run in (victim, other):
        command(two_workers, run, "pace", {"steps_per_sec": PACE})
        assert command(two_workers, run, "train", {"steps": CURVE_STEPS})["status"] == "training"
    seen = wait_run(two_workers, victim, lambda s: s["step"] >= 7 and s["worker_pid"])
    other_seen = run_state(two_workers, other)
    os.kill(seen["worker_pid"], signal.SIGKILL)
    failed = wait_run(two_workers, victim, lambda s: s["status"] == "failed")
    going = run_state(two_workers, other)
    return {
        "victim": victim,
        "other": other,
        "seen": seen,
        "other seen": other_seen,
        "failed": failed,
        "going": going,
    }


def test_a_killed_worker_fails_its_run_back_at_its_last_checkpoint(two_workers, killed):
    seen, failed = killed["seen"], killed["failed"]

    assert failed["step"] == failed["checkpoint_step"]
    # the worker may train a step or two between the state the test read and the kill (on a
    # busy machine, more): the run falls back to a checkpoint at most one interval past it
    assert failed["step"] % 5 == 0 and 5 <= failed["step"] <= seen["step"] + 5
    assert failed["segment"]["status"] == "failed" and "SIGKILL" in failed["segment"]["reason"]
    assert failed["worker_pid"] is None and failed["queue_position"] is None
    assert len(losses(two_workers, killed["victim"])) == failed["step"]


def test_a_killed_worker_leaves_the_other_run_training_to_the_end(two_workers, killed):
    before, going = killed["other seen"], killed["going"]

    assert before["worker_pid"] not in (None, killed["seen"]["worker_pid"])
    assert going["status"] == "training" and going["worker_pid"] == before["worker_pid"]
    wait_idle(two_workers, killed["other"], CURVE_STEPS)
    assert_curve(losses(two_workers, killed["other"]), textbook_losses(CURVE_STEPS, seed=7))


def test_a_failed_run_resumes_to_the_textbook_curve(two_workers, killed):
    victim = killed["victim"]
    command(two_workers, victim, "pace", {"steps_per_sec": None})

    resumed = command(two_workers, victim, "resume")

    assert resumed["status"] in ("training", "idle")  # a worker was free at once
    done = wait_idle(two_workers, victim, CURVE_STEPS)
    assert done["segment"]["status"] == "done"
    assert_curve(losses(two_workers, victim), textbook_losses(CURVE_STEPS, seed=42))


def test_a_failed_segment_keeps_the_time_it_trained_until_its_checkpoint(killed):
    failed = killed["failed"]

    # it trained failed["step"] steps at PACE steps/s before the checkpoint it is back at;
    # SegmentInfo.elapsed is "seconds spent training (as of the last checkpoint)"
    least = 0.5 * failed["step"] / PACE
    assert failed["segment"]["elapsed"] >= least, (
        f"the segment's elapsed is {failed['segment']['elapsed']} s at its step-"
        f"{failed['step']} checkpoint, {failed['step']} steps at {PACE}/s in: periodic "
        "checkpoints carry the elapsed time of the segment's start"
    )


# ---- every run survives a restart, a reset and an upload ----


def test_restart_keeps_every_run_its_name_steps_settings_and_history(server_factory):
    server = server_factory(MICROGPT_WORKERS="2")
    first = listing(server)["runs"][0]["id"]
    renamed = create(server, seed=9, steps=50, n_embd=8, n_head=2)["id"]
    trained = create(server, lr=0.005, block_size=4)["id"]
    assert httpx.patch(f"{server.url}/api/runs/{renamed}", json={"name": "wide"}).is_success
    command(server, trained, "train", {"steps": 5})
    wait_idle(server, trained, 5)
    assert server.post(f"/api/runs/{renamed}/select").status_code == 200
    before = listing(server)
    histories = {run: history(server, run) for run in (first, renamed, trained)}
    predicted = server.get(f"/api/runs/{trained}/predict", params={"prefix": "em"}).json()

    server.restart()

    after = listing(server)
    assert [r["id"] for r in after["runs"]] == [first, renamed, trained]
    assert after == before
    names = {r["id"]: r["name"] for r in after["runs"]}
    assert names == {first: f"Run {first}", renamed: "wide", trained: f"Run {trained}"}
    steps = {r["id"]: r["step"] for r in after["runs"]}
    assert steps == {first: 0, renamed: 0, trained: 5}
    assert after["default"] == renamed and server.state()["id"] == renamed
    for run, kept in histories.items():
        assert history(server, run) == kept
    assert server.get(f"/api/runs/{trained}/predict", params={"prefix": "em"}).json() == predicted
    server.stop()


def test_reset_makes_a_new_run_and_keeps_the_trained_one(two_workers, run_events):
    old = create(two_workers, seed=5, steps=30, n_embd=8, n_head=2)["id"]
    assert two_workers.post("/api/train", {"steps": 5}).status_code == 200  # the default run
    wait_idle(two_workers, old, 5)
    kept = history(two_workers, old)
    kept_run = two_workers.get(f"/api/runs/{old}").json()
    stream = run_events(two_workers, old)

    response = two_workers.post("/api/reset")

    assert response.status_code == 200, response.text
    new = response.json()
    assert new["id"] != old and new["step"] == 0 and new["status"] == "idle"
    assert new["seed"] == 5 and new["steps"] == 30
    assert new["config"]["n_embd"] == 8 and new["config"]["n_head"] == 2
    assert two_workers.state()["id"] == new["id"]
    assert stream.wait_event("reset").data["run"] == new["id"]
    runs = {r["id"]: r for r in listing(two_workers)["runs"]}
    assert runs[old] == {**kept_run, "default": False}
    assert runs[old]["step"] == 5
    assert history(two_workers, old) == kept
    assert history(two_workers, new["id"])["points"] == []

    reseeded = two_workers.post("/api/reset", {"seed": 77})

    assert reseeded.status_code == 200
    assert reseeded.json()["seed"] == 77 and reseeded.json()["id"] not in (old, new["id"])


def test_upload_takes_a_checkpoint_of_the_largest_model(two_workers):
    largest = {"n_embd": 32, "n_head": 8, "n_layer": 2, "block_size": 16}
    source = create(two_workers, **largest)
    # 27x32 wte + 16x32 wpe + 27x32 lm_head + 2 layers of 12 32x32 matrices = 26,816
    assert source["num_params"] == 26816
    command(two_workers, source["id"], "train", {"steps": 2})
    wait_idle(two_workers, source["id"], 2)
    download = two_workers.get(f"/api/runs/{source['id']}/checkpoint")
    assert download.status_code == 200
    assert download.headers["x-checkpoint-step"] == "2"
    body = download.content
    assert 16 * 1024 < len(body) <= 4 * 1024 * 1024  # over the body limit, under the upload's

    response = httpx.post(
        f"{two_workers.url}/api/checkpoint",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )

    assert response.status_code == 200, response.text
    new = response.json()
    assert new["id"] != source["id"] and new["step"] == 2 and new["status"] == "idle"
    assert new["config"] == {"vocab_size": 27, **largest} and new["num_params"] == 26816
    listed = {r["id"]: r for r in listing(two_workers)["runs"]}
    assert {k: listed[new["id"]][k] for k in largest} == largest
    assert listed[new["id"]]["default"] is True
    ask = {"prefix": "em"}
    theirs = two_workers.get(f"/api/runs/{source['id']}/predict", params=ask).json()
    ours = two_workers.get(f"/api/runs/{new['id']}/predict", params=ask).json()
    assert ours == theirs  # the same weights
