"""Held-out loss on a real server: every run keeps the last tenth of its shuffled documents
apart and scores its weights on a fixed sample of them where a segment starts, every
``val_every`` steps and where it ends. The stream says each one (``validation``), the history
carries them (``val``), a restart keeps them, and Compare draws them.

The oracle is the engine itself, stepped in this process (engine.train.Trainer, whose
held-out loss tests/engine/test_held_out.py checks against the textbook engine)."""

import pytest

from engine.train import Trainer

VAL_EVERY = 10


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory(MICROGPT_VAL_EVERY=str(VAL_EVERY))
    yield server
    server.stop()


def engine_val(steps: int, at: set[int]) -> dict[int, float]:
    """The engine's held-out loss of a fresh default model at the steps ``at`` of one
    segment of ``steps``."""
    trainer = Trainer()
    trainer.begin_run(steps)
    val = {0: trainer.validation_loss()}
    for _ in range(steps):
        trainer.train_step()
        if trainer.step in at:
            val[trainer.step] = trainer.validation_loss()
    return val


def test_a_run_measures_its_held_out_loss_as_it_trains(server, open_events):
    run = server.post("/api/runs", {"name": "held out"}).json()["id"]
    api = f"/api/runs/{run}"
    state = server.get(f"{api}/state").json()
    assert (state["num_docs"], state["held_out"]) == (32_033, 3_204)
    events = open_events(server.url)  # the newest run is the default one: this one

    assert server.post(f"{api}/train", {"steps": 25}).status_code == 200
    events.wait_event("done")

    measured = [(e.data["step"], e.data["loss"]) for e in events.named("validation")]
    assert [step for step, _ in measured] == [0, 10, 20, 25]  # start, every 10, the end
    oracle = engine_val(25, {10, 20, 25})
    for step, loss in measured:
        assert abs(loss - oracle[step]) < 1e-12, f"step {step}"
    # it learns: the names it never saw get likelier too, from about ln 27
    assert measured[0][1] == pytest.approx(3.30, abs=0.05) and measured[-1][1] < measured[0][1]

    history = server.get(f"{api}/history").json()
    assert history["held_out"] == 3_204
    assert [(v["step"], v["loss"]) for v in history["val"]] == measured
    later = server.get(f"{api}/history", params={"since": 15}).json()["val"]
    assert [v["step"] for v in later] == [20, 25]

    compared = server.get("/api/compare", params={"runs": [run]}).json()["runs"][0]
    assert (compared["val_steps"], compared["val"]) == ([0, 10, 20, 25], [m for _, m in measured])


def test_the_held_out_losses_survive_a_restart_and_a_new_segment_goes_on_from_them(server):
    run = server.post("/api/runs", {"name": "restarted"}).json()["id"]
    api = f"/api/runs/{run}"
    assert server.post(f"{api}/train", {"steps": 12}).status_code == 200
    server.wait_for_state(lambda _: server.get(f"{api}/state").json()["status"] == "idle")
    before = server.get(f"{api}/history").json()["val"]
    assert [v["step"] for v in before] == [0, 10, 12]

    server.restart()
    assert server.get(f"{api}/history").json()["val"] == before

    assert server.post(f"{api}/train", {"steps": 3}).status_code == 200
    server.wait_for_state(lambda _: server.get(f"{api}/state").json()["step"] == 15)
    server.wait_for_state(lambda _: server.get(f"{api}/state").json()["status"] == "idle")
    after = server.get(f"{api}/history").json()["val"]
    # the new segment measures where it starts (step 12, again: the same weights) and ends
    assert after[:3] == before and [v["step"] for v in after] == [0, 10, 12, 15]
