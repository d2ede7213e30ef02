"""Runs compared: each run's smoothed curve as stored, and the settings that differ named
(those every run shares said once)."""

import pytest


@pytest.fixture(scope="module")
def server(own_server):
    """A server of this module's own: its compare page lists every run."""
    return own_server


@pytest.fixture(scope="module")
def three(server):
    """Run 1 (default settings) trained 12 steps, run 2 at lr 0.05 trained 8, run 3 of
    another width, untrained."""
    server.stop_all()
    first = server.train(12).state()["id"]
    fast = server.post("/api/runs", {"lr": 0.05}).json()["id"]
    assert server.post(f"/api/runs/{fast}/train", {"steps": 8}).status_code == 200
    server.wait_for_state(lambda s: s["id"] == fast and s["status"] == "idle" and s["step"] == 8)
    wide = server.post("/api/runs", {"n_embd": 32, "n_head": 8}).json()["id"]
    return first, fast, wide


def test_curves_are_each_runs_smoothed_history_and_the_differences_are_named(server, three):
    first, fast, wide = three

    response = server.get("/api/compare", params=[("runs", first), ("runs", fast)])

    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["runs"]] == [first, fast]
    assert [r["differs"] for r in body["runs"]] == ["lr 0.01", "lr 0.05"]
    assert "seed 42" in body["common"] and "16 wide" in body["common"]
    for run in body["runs"]:
        points = server.get(f"/api/runs/{run['id']}/history").json()["points"]
        assert run["steps"] == [p["step"] for p in points]
        assert run["smooth"] == [p["smooth"] for p in points]


def test_every_setting_that_differs_is_named_and_an_untrained_run_has_no_curve(server, three):
    first, fast, wide = three

    body = server.get("/api/compare", params=[("runs", r) for r in three]).json()

    differs = {r["id"]: r["differs"] for r in body["runs"]}
    assert differs[first] == "lr 0.01 · 16 wide · 4 heads"
    assert differs[wide] == "lr 0.01 · 32 wide · 8 heads"
    assert body["runs"][2]["steps"] == [] and body["runs"][2]["loss"] is None


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ([("runs", 999)], 404, ["run 999 does not exist"]),
        ([("runs", i) for i in range(1, 10)], 422, ["'runs'", "at most 8"]),
        ([("runs", 0)], 422, ["'runs.0'", "greater than or equal to 1"]),
        ([("runs", "x")], 422, ["'runs.0'", "'x'", "integer"]),
    ],
)
def test_a_bad_choice_is_named(server, three, params, status, words):
    response = server.get("/api/compare", params=params)

    assert response.status_code == status
    for word in words:
        assert word in response.json()["detail"]


def test_a_run_named_twice_is_shown_once(server, three):
    body = server.get("/api/compare", params=[("runs", three[0])] * 2).json()

    assert [r["id"] for r in body["runs"]] == [three[0]]


def test_the_page_lists_every_run_to_pick_and_names_the_chosen_ones(server, three):
    first, fast, wide = three

    page = server.get("/compare", params=[("runs", first), ("runs", fast)]).text

    assert page.count('data-testid="compare-pick"') == 3
    assert f'value="{first}"\n        data-testid="compare-pick" checked' in page
    assert page.count('data-testid="compare-row"') == 2
    assert f'data-src="/api/compare?runs={first}&amp;runs={fast}"' in page
