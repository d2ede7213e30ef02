"""Fork: a new run from any past step of a run, exactly as it was there (weights and Adam's
moments rebuilt from the history), with its own settings for what follows."""

import html

import httpx
import pytest


@pytest.fixture(scope="module")
def parent(server):
    """The default run trained 30 steps (checkpoints at 25 and 30: step 20 is rebuilt)."""
    server.stop_all()
    return server.train(30).state()


def history(server, run: int) -> dict[int, float]:
    points = server.get(f"/api/runs/{run}/history").json()["points"]
    return {p["step"]: p["loss"] for p in points}


def wait_idle(server, run: int, step: int) -> None:
    def done(_) -> bool:
        s = server.get(f"/api/runs/{run}/state").json()
        return s["status"] == "idle" and s["step"] == step

    server.wait_for_state(done)


def test_a_fork_goes_on_from_step_k_and_its_first_loss_is_the_parents_at_k_plus_1(server, parent):
    response = server.post(f"/api/runs/{parent['id']}/fork", {"step": 20, "steps": 5})

    assert response.status_code == 201
    fork = response.json()
    assert fork["id"] != parent["id"] and fork["step"] == 20 and fork["status"] == "idle"
    assert (fork["parent"], fork["parent_step"]) == (parent["id"], 20)
    assert fork["name"] == f"{parent['name']} from step 20" and fork["steps"] == 5
    state = server.get(f"/api/runs/{fork['id']}/state").json()
    assert state["first_step"] == 20 and state["segment"] is None

    assert server.post(f"/api/runs/{fork['id']}/train", {}).status_code == 200
    wait_idle(server, fork["id"], 25)

    mine, theirs = history(server, fork["id"]), history(server, parent["id"])
    assert sorted(mine) == [21, 22, 23, 24, 25]  # numbered on from k + 1
    assert mine[21] == theirs[21]  # the same weights, the same document: the same loss


def test_a_fork_with_another_learning_rate_starts_from_the_same_weights(server, parent):
    fork = server.post(f"/api/runs/{parent['id']}/fork", {"step": 10, "lr": 0.05}).json()

    assert fork["lr"] == 0.05
    assert server.post(f"/api/runs/{fork['id']}/train", {"steps": 2}).status_code == 200
    wait_idle(server, fork["id"], 12)
    mine, theirs = history(server, fork["id"]), history(server, parent["id"])
    assert mine[11] == theirs[11]  # the loss before the first update: the same weights
    assert mine[12] != theirs[12]  # after one update at 5x the learning rate: another model


def test_the_parent_is_untouched_by_its_forks(server, parent):
    assert sorted(history(server, parent["id"])) == list(range(1, 31))
    assert server.get(f"/api/runs/{parent['id']}/state").json()["step"] == 30


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"step": 31}, ["step 31", "0 to 30"]),
        ({"step": -1}, ["'step'", "-1"]),
        ({"step": 5, "steps": 0}, ["'steps'", "0"]),
        ({"step": 5, "colour": "red"}, ["colour", "step, steps, lr, name"]),
    ],
)
def test_a_bad_fork_is_named_and_creates_nothing(server, parent, body, words):
    before = [r["id"] for r in server.get("/api/runs").json()["runs"]]

    response = server.post(f"/api/runs/{parent['id']}/fork", body)

    assert response.status_code == 422
    for word in words:
        assert word in response.json()["detail"]
    assert [r["id"] for r in server.get("/api/runs").json()["runs"]] == before


def test_forking_an_unknown_run_is_404(server):
    response = server.post("/api/runs/999/fork", {"step": 0})

    assert response.status_code == 404 and "run 999 does not exist" in response.json()["detail"]


@pytest.mark.parametrize(("step", "words"), [("-1", ["step -1", "0 to 30"]), ("x", ["'x'"])])
def test_the_pages_fork_names_a_step_it_cannot_fork(server, parent, step, words):
    before = [r["id"] for r in server.get("/api/runs").json()["runs"]]

    response = httpx.post(
        f"{server.url}/ui/runs/{parent['id']}/fork", data={"step": step}, timeout=30
    )

    assert response.status_code == 422
    for word in words:
        assert word in html.unescape(response.text)
    assert [r["id"] for r in server.get("/api/runs").json()["runs"]] == before


def test_the_pages_fork_opens_the_new_run(server, parent):
    response = httpx.post(
        f"{server.url}/ui/runs/{parent['id']}/fork",
        data={"step": "3"},
        headers={"HX-Request": "true"},
        timeout=30,
    )

    assert response.status_code == 204
    new = server.get("/api/runs").json()["runs"][-1]
    assert response.headers["hx-redirect"] == f"/?run={new['id']}"
    assert (new["parent"], new["parent_step"], new["step"]) == (parent["id"], 3, 3)
