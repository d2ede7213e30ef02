"""History kept as states every checkpoint (app.store.kept), the steps between replayed: after
300 steps, and after a restart (nothing rebuilt in memory), every sampled step, among them each
interval's first, middle and last, answers with the very weights, gradient, update, m, v and
predictions of the engine trained that many steps (``==``), the recipe it read, and the
textbook engine's weights (1e-9); deleting a run gives its disk back.

One server of the module's own (it restarts); the tests run in order.
"""

import sqlite3

import httpx
import pytest

from engine import Trainer, load_names
from engine.reference import ReferenceGPT

RUN = 300
EVERY = 25  # the server's checkpoint_every: a kept state each 25 steps
SAMPLE = (0, 1, 12, 24, 25, 26, 137, 149, 150, 151, 287, 299, 300)
TEXTBOOK = (1, 6)
LENSES = ("value", "grad", "update", "m", "v")


@pytest.fixture(scope="module")
def server(own_server):
    return own_server


@pytest.fixture(scope="module")
def engine_steps():
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
def trained(server):
    server.new_run(seed=42)
    return server.train(RUN)


def flat(body: dict, lens: str) -> list[float] | None:
    if body["matrices"][0][lens] is None:
        return None
    return [x for mat in body["matrices"] for row in mat[lens] for x in row]


def views(server) -> dict[int, str]:
    return {k: server.get("/ui/view", params={"step": k}).text for k in SAMPLE}


def check_sample(server, engine_steps) -> None:
    for k in SAMPLE:
        want = engine_steps[k]
        body = server.get("/api/params", params={"step": k}).json()
        assert body["step"] == k
        for lens in LENSES:
            assert flat(body, lens) == want[lens], (k, lens)
        r = server.get("/api/predict", params={"prefix": "em", "step": k})
        assert r.status_code == 200, r.text
        assert r.json()["probs"] == want["probs"], k
        if want["doc"] is not None:
            assert want["doc"] in server.get("/ui/view", params={"step": k}).text


def test_every_sampled_step_is_the_engines(trained, engine_steps):
    check_sample(trained, engine_steps)


def test_the_textbook_engine_agrees(trained):
    ref = ReferenceGPT(load_names())
    for step in range(max(TEXTBOOK)):
        ref.train_step(step, RUN)
        if step + 1 in TEXTBOOK:
            body = trained.get("/api/params", params={"step": step + 1}).json()
            got = flat(body, "value")
            worst = max(abs(a - p.data) for a, p in zip(got, ref.params, strict=True))
            assert worst < 1e-9


def test_after_a_restart_every_sampled_step_is_rebuilt_the_same(trained, engine_steps):
    before = views(trained)
    trained.restart()
    check_sample(trained, engine_steps)
    assert views(trained) == before


def test_only_kept_states_are_stored(trained):
    with sqlite3.connect(trained.data_dir / "microgpt.sqlite3") as db:
        model = trained.state()["model"]
        steps = [r[0] for r in db.execute("SELECT step FROM weights WHERE model=?", (model,))]
    assert steps == list(range(0, RUN + 1, EVERY))


def test_after_a_crash_the_newest_step_shows_its_gradient(trained):
    # a periodic checkpoint stores no frame: the newest step's gradient is replayed on load
    trained.new_run(seed=42)
    assert trained.post("/api/train", {"steps": RUN}).status_code == 200
    trained.wait_for_state(lambda s: s["step"] > EVERY + 2)
    trained.kill()
    trained.start()
    step = trained.state()["step"]
    assert step % EVERY == 0 and step > 0
    want = flat(trained.get("/api/params", params={"step": step}).json(), "grad")
    newest = trained.wait_for_state(
        lambda _: flat(trained.get("/api/params").json(), "grad") is not None
    )
    assert newest["step"] == step
    assert flat(trained.get("/api/params").json(), "grad") == want


def data_dir_bytes(server) -> int:
    return sum(p.stat().st_size for p in server.data_dir.iterdir() if p.is_file())


def test_deleting_a_run_gives_its_disk_back(trained):
    model = trained.state()["model"]
    trained.new_run(seed=7)  # another run stays
    trained.stop()
    full = data_dir_bytes(trained)
    trained.start()
    assert httpx.delete(f"{trained.url}/api/runs/{model}", timeout=30).status_code == 204
    trained.stop()
    assert data_dir_bytes(trained) < full - 100_000
    trained.start()
