"""History kept as states every checkpoint (app.store.kept), the steps between replayed: after
300 steps, and after a restart (nothing rebuilt in memory), every sampled step, among them each
interval's first, middle and last, answers with the very weights, gradient, update, m, v and
predictions of the engine trained that many steps (``==``) and the recipe it read (the
textbook engine's agreement with replayed steps is tests/app/test_time_travel.py's); a crash
loses no newest gradient; deleting a run gives its disk back.

One server of the module's own (it is killed, started and stopped: three starts in all); one
300-step run. The last test leaves the server stopped.
"""

import sqlite3

import httpx
import pytest

from engine import Trainer

RUN = 300
EVERY = 25  # the server's checkpoint_every: a kept state each 25 steps
SAMPLE = (0, 1, 12, 24, 25, 26, 149, 150, 151, 287, 299, 300)
LENSES = ("value", "grad", "update", "m", "v")


def engine_run() -> dict[int, dict]:
    """What the engine holds after each sampled step of one 300-step run (seed 42)."""
    trainer = Trainer(seed=42)
    trainer.record = True
    trainer.begin_run(RUN)
    seen = {}
    for k in range(RUN + 1):
        if k:
            rec = trainer.train_step()
        if k in SAMPLE:
            values, m, v = trainer.flat_state()
            frame = trainer.last_frame
            seen[k] = {
                "value": values.tolist(),
                "m": m.tolist(),
                "v": v.tolist(),
                "grad": frame.grads.tolist() if k else None,
                "update": [a - b for a, b in zip(values, frame.before, strict=True)] if k else None,
                "probs": trainer.predictor().distribution("em"),
                "doc": rec.doc if k else None,
            }
    return seen


@pytest.fixture(scope="module")
def training(own_server):
    """The server's seed-42 run of 300 steps and the engine's (trained meanwhile, here)."""
    run = own_server.new_run(seed=42)["id"]
    assert own_server.post("/api/train", {"steps": RUN}).status_code == 200
    steps = engine_run()
    own_server.wait_idle_at(RUN)
    return own_server, run, steps


@pytest.fixture(scope="module")
def trained(training):
    """The server and its run's id."""
    return training[:2]


@pytest.fixture(scope="module")
def engine_steps(training):
    return training[2]


@pytest.fixture(scope="module")
def views_before(trained):
    return views(*trained)


@pytest.fixture(scope="module")
def crashed(trained, views_before):
    """Another run killed (with its server) mid-training, then the server started again: the
    run's id and the step it came back at."""
    server, _ = trained
    run = server.new_run(seed=42)["id"]
    assert server.post("/api/train", {"steps": RUN}).status_code == 200
    server.wait_for_state(lambda s: s["step"] > EVERY + 2)
    server.kill()
    server.start()
    return run, server.get(f"/api/runs/{run}/state").json()["step"]


def flat(body: dict, lens: str) -> list[float] | None:
    if body["matrices"][0][lens] is None:
        return None
    return [x for mat in body["matrices"] for row in mat[lens] for x in row]


def views(server, run: int) -> dict[int, str]:
    return {k: server.get(f"/ui/runs/{run}/view", params={"step": k}).text for k in SAMPLE}


def check_sample(server, run: int, engine_steps, views: dict[int, str]) -> None:
    base = f"/api/runs/{run}"
    for k in SAMPLE:
        want = engine_steps[k]
        body = server.get(f"{base}/params", params={"step": k}).json()
        assert body["step"] == k
        for lens in LENSES:
            assert flat(body, lens) == want[lens], (k, lens)
        r = server.get(f"{base}/predict", params={"prefix": "em", "step": k})
        assert r.status_code == 200, r.text
        assert r.json()["probs"] == want["probs"], k
        if want["doc"] is not None:  # the recipe: the name that step read
            assert want["doc"] in views[k]


def test_every_sampled_step_is_the_engines(trained, engine_steps, views_before):
    check_sample(*trained, engine_steps, views_before)


def test_only_kept_states_are_stored(trained):
    server, run = trained
    model = server.get(f"/api/runs/{run}/state").json()["model"]
    with sqlite3.connect(server.data_dir / "microgpt.sqlite3") as db:
        steps = [r[0] for r in db.execute("SELECT step FROM weights WHERE model=?", (model,))]
    assert steps == list(range(0, RUN + 1, EVERY))


def test_after_a_crash_the_newest_step_shows_its_gradient(trained, crashed):
    # a periodic checkpoint stores no frame: the newest step's gradient is replayed on load
    server, _ = trained
    run, step = crashed
    assert step % EVERY == 0 and step > 0
    params = f"/api/runs/{run}/params"
    want = flat(server.get(params, params={"step": step}).json(), "grad")
    newest = server.wait_for_state(lambda _: flat(server.get(params).json(), "grad") is not None)
    assert newest["step"] == step
    assert flat(server.get(params).json(), "grad") == want


def test_after_a_restart_every_sampled_step_is_rebuilt_the_same(
    trained, engine_steps, views_before, crashed
):
    server, run = trained
    after = views(server, run)
    check_sample(server, run, engine_steps, after)
    assert after == views_before


def data_dir_bytes(server) -> int:
    return sum(p.stat().st_size for p in server.data_dir.iterdir() if p.is_file())


def test_deleting_a_run_gives_its_disk_back(trained, crashed):
    server, run = trained  # its 300 steps: 13 kept states, ~1.3 MB
    server.stop()
    full = data_dir_bytes(server)
    server.start()
    assert httpx.delete(f"{server.url}/api/runs/{run}", timeout=30).status_code == 204
    server.stop()
    assert data_dir_bytes(server) < full - 1_000_000
