"""A classroom on one link, on a real server: a teacher makes a class, students join with a
name and each get a run of the class's preset; a student's run obeys only that student and
the teacher (every other browser gets 403 naming whose it is, and may watch); limits, rejoin,
remove, close, spotlight, the results as CSV, new settings pushed; all kept across a restart.

Each browser is an ``httpx.Client`` keeping its own cookies (its signed identity)."""

import csv
import io

import httpx
import pytest


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory(MICROGPT_WORKERS="2")
    yield server
    server.stop()


class Browser:
    """One browser: its own cookie jar (so its own identity)."""

    def __init__(self, server):
        self.server = server
        self.client = httpx.Client(base_url=server.url, timeout=30)

    def get(self, path, **kw):
        return self.client.get(path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.client.post(path, json=json_body, **kw)

    def run_state(self, run):
        return self.get(f"/api/runs/{run}/state").json()

    def wait_idle(self, run, timeout=30):
        self.server.wait_for_state(
            lambda _: self.run_state(run)["status"] == "idle" and self.run_state(run)["step"] > 0,
            timeout,
        )


def make_class(server, **body):
    teacher = Browser(server)
    teacher.get("/")  # a first visit: the identity cookie
    made = teacher.post("/api/classes", {"name": "Physics 1", **body})
    assert made.status_code == 201, made.text
    return teacher, made.json()


def join(browser, code, name, **extra):
    return browser.post(f"/api/classes/{code}/join", {"name": name, **extra})


def test_students_join_with_a_name_and_each_get_a_run_of_the_preset(server):
    teacher, made = make_class(server, preset={"n_embd": 8, "n_head": 2, "steps": 20})
    code = made["code"]
    assert len(code) == 6 and made["join_url"].endswith(f"/class/{code}")

    ada, bob = Browser(server), Browser(server)
    first = join(ada, code, "  Ada   Lovelace ")
    assert first.status_code == 201, first.text
    joined = first.json()
    assert joined["name"] == "Ada Lovelace" and not joined["again"] and len(joined["rejoin"]) == 6
    again = join(ada, code, "Ada")
    assert again.status_code == 200 and again.json()["run"] == joined["run"]  # the same run
    other = join(bob, code, "Bob").json()
    assert other["run"] != joined["run"]

    run = ada.get(f"/api/runs/{joined['run']}").json()
    assert (run["name"], run["n_embd"], run["n_head"], run["steps"]) == ("Ada Lovelace", 8, 2, 20)

    # the teacher link: the secret is traded for this browser's identity, and dropped
    projector = Browser(server)
    assert projector.get(f"/api/classes/{code}").status_code == 403
    link = projector.get(made["teacher_url"].removeprefix(server.url), follow_redirects=False)
    assert link.status_code == 303 and link.headers["location"] == f"/class/{code}/teacher"
    listed = projector.get(f"/api/classes/{code}").json()
    assert [(m["name"], m["run"], m["status"]) for m in listed["members"]] == [
        ("Ada Lovelace", joined["run"], "idle"),
        ("Bob", other["run"], "idle"),
    ]
    assert teacher.get(f"/api/classes/{code}").status_code == 200  # its maker, too

    wrong = Browser(server).get(f"/class/{code}/teach?key=guess", follow_redirects=False)
    assert wrong.status_code == 403 and "this teacher link is not the class" in wrong.text


def test_a_students_run_obeys_only_them_and_the_teacher(server):
    teacher, made = make_class(server, preset={"steps": 5})
    code = made["code"]
    ada, bob = Browser(server), Browser(server)
    run = join(ada, code, "Ada").json()["run"]
    join(bob, code, "Bob")
    stranger = httpx.Client(base_url=server.url, timeout=30)  # curl: no cookie at all

    commands = [
        ("post", f"/api/runs/{run}/train", {"steps": 5}),
        ("post", f"/api/runs/{run}/pause", None),
        ("post", f"/api/runs/{run}/resume", None),
        ("post", f"/api/runs/{run}/stop", None),
        ("post", f"/api/runs/{run}/step", None),
        ("post", f"/api/runs/{run}/pace", {"steps_per_sec": 5}),
        ("post", f"/api/runs/{run}/reset", {}),
        ("post", f"/api/runs/{run}/fork", {"step": 0}),
        ("patch", f"/api/runs/{run}", {"name": "mine now"}),
        ("delete", f"/api/runs/{run}", None),
    ]
    for client in (bob.client, stranger):
        for method, path, body in commands:
            kw = {"json": body} if body is not None else {}
            response = client.request(method.upper(), path, **kw)
            assert response.status_code == 403, (path, response.text)
            assert "Ada's" in response.json()["detail"] and "watch" in response.json()["detail"]
        # the page's buttons say it in place
        refused = client.post(f"/ui/runs/{run}/train", data={"steps": "5"})
        assert "only Ada or the teacher" in refused.text
        # and watching is fine
        assert client.get(f"/api/runs/{run}/history").status_code == 200
        assert client.get(f"/api/runs/{run}/predict", params={"prefix": "e"}).status_code == 200
    assert ada.run_state(run)["step"] == 0  # nothing happened to it

    assert ada.post(f"/api/runs/{run}/train", {"steps": 5}).status_code == 200
    ada.wait_idle(run)
    assert teacher.post(f"/api/runs/{run}/train", {"steps": 5}).status_code == 200
    server.wait_for_state(lambda _: ada.run_state(run)["step"] == 10)

    # a run outside any class is anyone's, as in single-user mode
    free = stranger.post("/api/runs", json={"steps": 3}).json()["id"]
    assert bob.post(f"/api/runs/{free}/train", {}).status_code == 200


def test_the_class_limits_a_students_steps_and_runs(server):
    server.stop_all()
    teacher, made = make_class(
        server, preset={"steps": 5}, limits={"steps_per_run": 50, "runs_per_student": 2}
    )
    ada = Browser(server)
    run = join(ada, made["code"], "Ada").json()["run"]

    too_long = ada.post(f"/api/runs/{run}/train", {"steps": 51})
    assert too_long.status_code == 422
    assert "51" in too_long.json()["detail"] and "at most 50" in too_long.json()["detail"]

    second = ada.post(f"/api/runs/{run}/reset", {})  # a second run: within the limit
    assert second.status_code == 200
    new = second.json()["model"]
    assert ada.get(f"/api/runs/{new}").json()["name"] == "Ada"
    third = ada.post(f"/api/runs/{new}/reset", {})
    assert third.status_code == 403 and "2 runs" in third.json()["detail"]
    # the teacher sees the student's newest run
    members = teacher.get(f"/api/classes/{made['code']}").json()["members"]
    assert [m["run"] for m in members] == [new]

    bad = teacher.post(
        "/api/classes", {"name": "x", "preset": {"steps": 900}, "limits": {"steps_per_run": 100}}
    )
    assert bad.status_code == 422 and "steps_per_run" in bad.json()["detail"]


def test_a_student_rejoins_from_another_browser_with_the_code(server):
    _, made = make_class(server)
    code = made["code"]
    ada = Browser(server)
    joined = join(ada, code, "Ada").json()

    laptop = Browser(server)
    wrong = join(laptop, code, "Ada", rejoin="ZZZZZZ")
    assert wrong.status_code == 403 and "ZZZZZZ" in wrong.json()["detail"]
    back = join(laptop, code, "", rejoin=joined["rejoin"].lower())  # case does not matter
    assert back.status_code == 200 and back.json()["run"] == joined["run"]
    assert laptop.post(f"/api/runs/{joined['run']}/pace", {"steps_per_sec": 50}).status_code == 200
    # the old browser is no longer the student's
    assert ada.post(f"/api/runs/{joined['run']}/pace", {"steps_per_sec": 5}).status_code == 403


def test_the_teacher_trains_everyone_spotlights_removes_and_closes(server):
    server.stop_all()
    teacher, made = make_class(server, preset={"steps": 8})
    code = made["code"]
    students = {name: Browser(server) for name in ("Ada", "Bob", "Cy")}
    runs = {name: join(b, code, name).json()["run"] for name, b in students.items()}
    bob = students["Bob"]
    assert bob.get(f"/api/classes/{code}").status_code == 403  # the roster is the teacher's
    assert bob.post(f"/api/classes/{code}/train").status_code == 403

    started = teacher.post(f"/api/classes/{code}/train").json()
    assert sorted(started["done"]) == sorted(runs.values()) and started["skipped"] == {}
    for run in runs.values():
        server.wait_for_state(lambda _, run=run: bob.run_state(run)["step"] == 8, timeout=60)
        bob.wait_idle(run)
    again = teacher.post(f"/api/classes/{code}/resume").json()
    assert again["done"] == [] and len(again["skipped"]) == 3  # nothing to resume

    spot = teacher.client.put(f"/api/classes/{code}/spotlight", json={"run": runs["Bob"]})
    assert spot.status_code == 200 and spot.json()["spotlight"] == runs["Bob"]
    public = bob.get(f"/api/classes/{code}/spotlight").json()
    assert (public["run"], public["name"]) == (runs["Bob"], "Bob")
    foreign = teacher.client.put(f"/api/classes/{code}/spotlight", json={"run": 999_999})
    assert foreign.status_code == 422 and str(runs["Ada"]) in foreign.json()["detail"]

    table = teacher.get(f"/api/classes/{code}/results.csv")
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["student"] for r in rows] == ["Ada", "Bob", "Cy"]
    assert all(r["step"] == "8" and float(r["smoothed_loss"]) > 0 for r in rows)
    assert all(float(r["held_out_loss"]) > 0 for r in rows)

    member = next(
        m for m in teacher.get(f"/api/classes/{code}").json()["members"] if m["name"] == "Bob"
    )
    assert teacher.client.delete(f"/api/classes/{code}/members/{member['id']}").status_code == 204
    assert bob.get(f"/api/runs/{runs['Bob']}").status_code == 404  # their run is gone
    listed = teacher.get(f"/api/classes/{code}").json()
    assert [m["name"] for m in listed["members"]] == ["Ada", "Cy"] and listed["spotlight"] is None

    closed = teacher.post(f"/api/classes/{code}/close").json()
    assert closed["closed"]
    late = join(Browser(server), code, "Dee")
    assert late.status_code == 403 and "closed" in late.json()["detail"]
    ada = students["Ada"]
    refused = ada.post(f"/api/runs/{runs['Ada']}/train", {"steps": 2})
    assert refused.status_code == 403 and "closed" in refused.json()["detail"]
    assert ada.get(f"/api/runs/{runs['Ada']}/history").status_code == 200  # still watchable


def test_new_settings_remake_the_runs_not_yet_trained(server):
    server.stop_all()
    teacher, made = make_class(server, preset={"steps": 3})
    code = made["code"]
    ada, bob = Browser(server), Browser(server)
    trained = join(ada, code, "Ada").json()["run"]
    untrained = join(bob, code, "Bob").json()["run"]
    assert ada.post(f"/api/runs/{trained}/train", {}).status_code == 200
    ada.wait_idle(trained)

    pushed = teacher.client.patch(
        f"/api/classes/{code}", json={"preset": {"n_embd": 8, "n_head": 2, "steps": 3}}
    )
    assert pushed.status_code == 200, pushed.text
    runs = {m["name"]: m["run"] for m in pushed.json()["members"]}
    assert runs["Ada"] == trained  # kept: it has trained
    assert runs["Bob"] != untrained and bob.get(f"/api/runs/{untrained}").status_code == 404
    assert bob.get(f"/api/runs/{runs['Bob']}").json()["n_embd"] == 8
    assert bob.post(f"/api/runs/{runs['Bob']}/train", {}).status_code == 200  # still Bob's
    late = join(Browser(server), code, "Cy").json()["run"]
    assert teacher.get(f"/api/runs/{late}").json()["n_embd"] == 8


def test_classes_and_who_is_who_survive_a_restart(server):
    teacher, made = make_class(server)
    code = made["code"]
    ada, bob = Browser(server), Browser(server)
    run = join(ada, code, "Ada").json()["run"]

    server.restart()

    assert teacher.get(f"/api/classes/{code}").json()["members"][0]["run"] == run
    again = join(ada, code, "Ada")
    assert again.status_code == 200
    assert (again.json()["run"], again.json()["again"], again.json()["rejoin"]) == (run, True, "")
    assert bob.post(f"/api/runs/{run}/pace", {"steps_per_sec": 5}).status_code == 403
    assert ada.post(f"/api/runs/{run}/pace", {"steps_per_sec": 5}).status_code == 200
    # a cookie not signed by this server is no identity: a new one is given
    forged = httpx.Client(base_url=server.url, timeout=30)
    forged.cookies.set("mgl_id", ada.client.cookies["mgl_id"].split(".")[0] + ".forged")
    assert forged.post(f"/api/runs/{run}/pace", json={"steps_per_sec": 5}).status_code == 403
