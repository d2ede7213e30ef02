"""Fair shares (app.runs.quotas, app.runs.scheduler): one person's long queue does not delay
another's first run, and one person cannot take every run, every minute or every class."""

import re
from contextlib import contextmanager

import httpx
import pytest

from app.settings import Settings
from tests.conftest import EventStream

QUOTAS = {"MICROGPT_RUNS_PER_IDENTITY": "4", "MICROGPT_RUNS_PER_MINUTE": "6"}
QUOTAS["MICROGPT_CLASSES_PER_IDENTITY"] = "2"
QUOTAS["MICROGPT_REPLAY_MAX_CLIENT_BYTES"] = str(16 * 1024)  # ~8 step events


@pytest.fixture(scope="module")
def one_worker(server_factory):
    server = server_factory(MICROGPT_WORKERS="1", **QUOTAS)
    yield server
    server.stop()


@contextmanager
def person(server):
    """A browser: it keeps the identity cookie the server gives it."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        yield client


def new_run(client: httpx.Client, **settings) -> int:
    response = client.post("/api/runs", json=settings)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_one_persons_long_queue_delays_anothers_first_run_by_one_turn(one_worker):
    with person(one_worker) as ann, person(one_worker) as bob:
        runs = [new_run(ann, steps=5000) for _ in range(4)]
        first = runs[0]
        assert ann.post(f"/api/runs/{first}/pace", json={"steps_per_sec": 5}).status_code == 200
        for run in runs:
            assert ann.post(f"/api/runs/{run}/train", json={"steps": 5000}).status_code == 200
        mine = new_run(bob, steps=5000)

        state = bob.post(f"/api/runs/{mine}/train", json={"steps": 5000}).json()

        # ann's three waiting runs and bob's one take turns: bob is second, not fourth
        assert state["status"] == "queued" and state["queue_position"] == 2
        assert bob.get("/api/runs").json()["queue"] == [runs[1], mine, runs[2], runs[3]]
        waits = {r: ann.get(f"/api/runs/{r}/state").json()["queue_wait"] for r in runs[1:]}
        assert waits[runs[1]] < state["queue_wait"] < waits[runs[2]]

        page = EventStream(one_worker.url, path=f"/api/runs/{mine}/events")
        try:
            page.wait_event("status", queue_position=2)
            assert ann.post(f"/api/runs/{first}/stop").status_code == 200
            # ann's second run takes the worker; bob is next, and his page hears it
            moved = page.wait_event("status", queue_position=1)
        finally:
            page.close()
        assert moved.data["queue_wait"] < state["queue_wait"]
        assert bob.get(f"/api/runs/{mine}/state").json()["queue_position"] == 1
        one_worker.stop_all()


def test_a_person_keeps_at_most_runs_per_identity_and_forks_count(one_worker):
    with person(one_worker) as carol:
        made = [new_run(carol) for _ in range(3)]
        fork = carol.post(f"/api/runs/{made[0]}/fork", json={"step": 0})
        assert fork.status_code == 201, fork.text

        refused = carol.post("/api/runs", json={})

        assert refused.status_code == 403
        assert "4 runs" in refused.json()["detail"] and "(4)" in refused.json()["detail"]
        assert carol.post(f"/api/runs/{made[0]}/fork", json={"step": 0}).status_code == 403
        assert carol.delete(f"/api/runs/{made[1]}").status_code == 204
        assert carol.post("/api/runs", json={}).status_code == 201  # one deleted: one more


def test_a_client_without_cookies_is_one_person_its_address(one_worker):
    for _ in range(4):
        assert httpx.post(f"{one_worker.url}/api/runs", json={}).status_code in (201, 403)
    refused = httpx.post(f"{one_worker.url}/api/runs", json={})
    assert refused.status_code == 403 and "(4)" in refused.json()["detail"]


def test_a_person_makes_at_most_runs_per_minute(one_worker):
    with person(one_worker) as dan:
        for _ in range(3):  # make and delete: never more than 4 kept
            for run in [new_run(dan), new_run(dan)]:
                assert dan.delete(f"/api/runs/{run}").status_code == 204

        refused = dan.post("/api/runs", json={})

        assert refused.status_code == 429
        assert "6 runs in the last minute" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) >= 1


def test_a_person_teaches_at_most_classes_per_identity(one_worker):
    with person(one_worker) as eve:
        for name in ("A", "B"):
            assert eve.post("/api/classes", json={"name": name}).status_code == 201

        refused = eve.post("/api/classes", json={"name": "C"})

        assert refused.status_code == 403
        assert "2 open classes" in refused.json()["detail"]


def test_a_students_run_made_outside_the_class_counts_in_it(one_worker):
    with person(one_worker) as teacher, person(one_worker) as student:
        limits = {"runs_per_student": 2, "steps_per_run": 100}
        created = teacher.post(
            "/api/classes", json={"name": "Fair", "limits": limits, "preset": {"steps": 50}}
        )
        assert created.status_code == 201, created.text
        code = created.json()["code"]
        joined = student.post(f"/api/classes/{code}/join", json={"name": "Sam"})
        assert joined.status_code in (200, 201), joined.text

        made = new_run(student)  # by POST /api/runs: the class's run, under its limits

        too_long = student.post(f"/api/runs/{made}/train", json={"steps": 500})
        assert too_long.status_code in (403, 422), too_long.text
        assert "100" in too_long.json()["detail"]
        refused = student.post("/api/runs", json={})
        assert refused.status_code == 403 and "Sam has 2 runs" in refused.json()["detail"]


def test_a_persons_normal_use_never_meets_a_quota(server_factory):
    defaults = {
        f"MICROGPT_{name.upper()}": str(Settings.model_fields[name].default)
        for name in ("runs_per_identity", "runs_per_minute", "classes_per_identity")
    }
    server = server_factory(**defaults)
    try:
        with person(server) as me:
            # a busy lesson in a minute: runs, forks, resets, a class
            runs = [new_run(me) for _ in range(10)]
            for run in runs[:10]:
                assert me.post(f"/api/runs/{run}/fork", json={"step": 0}).status_code == 201
            for run in runs[:5]:
                assert me.post(f"/api/runs/{run}/reset", json={}).status_code == 200
            assert me.post("/api/classes", json={"name": "Mine"}).status_code == 201
    finally:
        server.stop()


def test_disk_budgets_refuse_with_507_and_the_numbers(server_factory):
    mib = str(1024 * 1024)
    server = server_factory(MICROGPT_RUN_DISK_BUDGET=mib, MICROGPT_DATA_DISK_BUDGET=mib)
    try:
        run = server.state()["id"]
        # a step of the default shape stores ~4.4 kB (its share of a kept state, its probes):
        # 1 MiB holds a couple of hundred
        refused = server.post(f"/api/runs/{run}/train", {"steps": 500})
        assert refused.status_code == 507
        detail = refused.json()["detail"]
        assert "500 more steps" in detail and "MICROGPT_RUN_DISK_BUDGET" in detail
        assert "1 MB" in detail and "train at most" in detail
        room = int(re.search(r"train at most ([\d,]+) steps", detail)[1].replace(",", ""))
        assert 150 <= room <= 240  # 1 MiB at ~4.4 kB a step (3.9 MiB per 1,000 measured)
        assert server.post(f"/api/runs/{run}/train", {"steps": 5}).status_code == 200
        server.wait_idle_at(5)

        for _ in range(30):  # the database grows past the data directory's budget
            refused = server.post("/api/runs", {})
            if refused.status_code != 201:
                break

        assert refused.status_code == 507
        assert "MICROGPT_DATA_DISK_BUDGET" in refused.json()["detail"]
    finally:
        server.stop()


def test_a_replay_sends_at_most_its_bound_then_the_state_instead(one_worker):
    with person(one_worker) as me:  # not the address: its runs are spent (a test above)
        run = new_run(me)
    path = f"/api/runs/{run}/events"
    live = EventStream(one_worker.url, path=path)
    try:
        assert one_worker.post(f"/api/runs/{run}/train", {"steps": 20}).status_code == 200
        done = live.wait_event("done")
        steps = live.named("step")
        assert len(steps) == 20
    finally:
        live.close()

    near = EventStream(one_worker.url, steps[-3].id, path=path)  # ~4 kB behind: replayed
    far = EventStream(one_worker.url, steps[0].id, path=path)  # ~40 kB behind: the state
    try:
        replayed = near.wait_event("done")
        assert near.steps() == [s.data["step"] for s in steps[-2:]]
        assert near.events[0].event == "step" and replayed.id == done.id

        state = far.wait_event("status")
        assert far.events[0] is state and far.steps() == []
        assert state.data["step"] == 20 and int(state.id) >= int(done.id)
    finally:
        near.close()
        far.close()
