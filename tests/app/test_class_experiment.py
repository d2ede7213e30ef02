"""A class as an experiment, on a real server: every student their own seed (or the same one),
one setting spread round-robin in join order (a removal reshuffles nobody; bad values are
422s naming them), the teacher's Pause all / Stop all holding until they resume, "Chen (2)",
the results CSV's seed, varied setting and ISO times; and the ways in: /class's code box, the
teacher link shown once after creating (and again, new, on asking), a student's / opening
their own run, someone else's run served watch-only."""

import csv
import io
import re

import pytest

from tests.app.test_classes import Browser, join, make_class


@pytest.fixture(scope="module")
def server(server_factory):
    server = server_factory(MICROGPT_WORKERS="2")
    yield server
    server.stop()


def seeds_and(browser, runs, field="seed"):
    return [browser.get(f"/api/runs/{r}").json()[field] for r in runs]


def test_each_student_gets_a_seed_of_their_own_or_everyone_the_same(server):
    _, made = make_class(server, preset={"seed": 7, "steps": 5, "n_embd": 8, "n_head": 2})
    browsers = [Browser(server) for _ in range(3)]
    runs = [join(b, made["code"], f"S{i}").json()["run"] for i, b in enumerate(browsers)]
    assert seeds_and(browsers[0], runs) == [7, 8, 9]  # the preset's, counting up by join order

    server.stop_all()
    teacher, same = make_class(
        server, seeds="same", preset={"seed": 7, "steps": 5, "n_embd": 8, "n_head": 2}
    )
    pair = [Browser(server), Browser(server)]
    runs = [join(b, same["code"], f"T{i}").json()["run"] for i, b in enumerate(pair)]
    assert seeds_and(pair[0], runs) == [7, 7]
    assert teacher.post(f"/api/classes/{same['code']}/train").json()["done"] == runs
    alone = pair[0].post("/api/runs", {"seed": 7, "steps": 5, "n_embd": 8, "n_head": 2}).json()
    assert pair[0].post(f"/api/runs/{alone['id']}/train", {}).status_code == 200
    for run in [*runs, alone["id"]]:
        pair[0].wait_idle(run)
    curves = [pair[0].get(f"/api/runs/{r}/history").json() for r in [*runs, alone["id"]]]
    losses = [[p["loss"] for p in c["points"]] for c in curves]
    assert len(losses[0]) == 5 and losses[0] == losses[1] == losses[2]  # the seed's exact curve


def test_a_setting_is_spread_round_robin_in_join_order(server):
    vary = {"field": "lr", "values": [0.005, 0.01, 0.02]}
    teacher, made = make_class(server, vary=vary)
    code = made["code"]
    people = {n: Browser(server) for n in ("Ada", "Bo", "Cy", "Di")}
    runs = {n: join(b, code, n).json()["run"] for n, b in people.items()}
    assert seeds_and(teacher, runs.values(), "lr") == [0.005, 0.01, 0.02, 0.005]

    listed = teacher.get(f"/api/classes/{code}").json()
    assert listed["vary"] == vary and listed["seeds"] == "each" and listed["hold"] is None
    assert [(m["name"], m["value"]) for m in listed["members"]][:2] == [
        ("Ada", 0.005),
        ("Bo", 0.01),
    ]
    bo = next(m for m in listed["members"] if m["name"] == "Bo")
    assert teacher.client.delete(f"/api/classes/{code}/members/{bo['id']}").status_code == 204
    late = join(Browser(server), code, "Ed").json()["run"]  # the 5th to join: slot 4
    assert teacher.get(f"/api/runs/{late}").json()["lr"] == 0.01
    assert seeds_and(teacher, [runs["Cy"], late]) == [44, 46]  # nobody reshuffled

    page = people["Cy"].get(f"/class/{code}").text
    assert "you train with learning rate 0.02, seed 44" in page

    # changeable with the preset: a run not yet trained is remade with its new value
    moved = teacher.client.patch(
        f"/api/classes/{code}", json={"vary": {"field": "n_embd", "values": [8, 32]}}
    )
    assert moved.status_code == 200, moved.text
    shapes = {m["name"]: (m["value"], m["run"]) for m in moved.json()["members"]}
    assert teacher.get(f"/api/runs/{shapes['Ada'][1]}").json()["n_embd"] == 8
    assert shapes["Cy"][0] == 8 and shapes["Di"][0] == 32


@pytest.mark.parametrize(
    "body, named",
    [
        ({"vary": {"field": "momentum", "values": [1, 2]}}, "field"),
        ({"vary": {"field": "lr", "values": [0.01]}}, "values"),
        ({"vary": {"field": "n_embd", "values": [8, 10, 12]}}, "10"),
        ({"vary": {"field": "lr", "values": [0.01, 2.5]}}, "2.5"),
        ({"vary": {"field": "dataset", "values": ["names", "klingon"]}}, "klingon"),
        (
            {
                "vary": {"field": "steps", "values": [10, 900]},
                "limits": {"steps_per_run": 100},
                "preset": {"steps": 10},
            },
            "900",
        ),
        ({"seeds": "some"}, "seeds"),
    ],
)
def test_a_bad_varied_setting_is_refused_naming_it(server, body, named):
    made = Browser(server).post("/api/classes", {"name": "bad", **body})
    assert made.status_code == 422, made.text
    assert named in made.json()["detail"]


def test_pause_all_holds_until_the_teacher_resumes(server):
    server.stop_all()
    teacher, made = make_class(server, preset={"steps": 2000, "n_embd": 8, "n_head": 2})
    code = made["code"]
    ada = Browser(server)
    run = join(ada, code, "Ada").json()["run"]
    assert ada.post(f"/api/runs/{run}/train", {}).status_code == 200
    server.wait_for_state(lambda _: ada.run_state(run)["status"] == "training")

    paused = teacher.post(f"/api/classes/{code}/pause").json()
    assert paused["done"] == [run]
    server.wait_for_state(lambda _: ada.run_state(run)["status"] == "paused")
    for path, body in ((f"/api/runs/{run}/resume", None), (f"/api/runs/{run}/train", {})):
        refused = ada.post(path, body)
        assert refused.status_code == 409, refused.text
        assert "Your teacher paused the class" in refused.json()["detail"]
    page = ada.client.post(f"/ui/runs/{run}/resume")
    assert "Your teacher paused the class" in page.text  # the page's buttons say it in place
    assert ada.run_state(run)["status"] == "paused"  # the hold is not a status
    assert teacher.get(f"/api/classes/{code}").json()["hold"] == "pause"
    assert "Your teacher paused the class" in ada.get(f"/?run={run}").text

    bea = Browser(server)  # joins meanwhile: held too
    late = join(bea, code, "Bea").json()["run"]
    assert bea.post(f"/api/runs/{late}/train", {}).status_code == 409
    assert "Your teacher paused the class" in bea.get(f"/class/{code}").text

    resumed = teacher.post(f"/api/classes/{code}/resume").json()
    assert resumed["done"] == [run]
    assert teacher.get(f"/api/classes/{code}").json()["hold"] is None
    assert ada.post(f"/api/runs/{run}/stop").status_code == 200  # theirs again

    teacher.post(f"/api/classes/{code}/stop")
    stopped = bea.post(f"/api/runs/{late}/train", {})
    assert stopped.status_code == 409 and "Your teacher stopped the class" in stopped.text
    teacher.post(f"/api/classes/{code}/train", {})  # Start all ends the hold
    assert teacher.get(f"/api/classes/{code}").json()["hold"] is None
    server.stop_all()
    teacher.post(f"/api/classes/{code}/stop")


def test_a_second_student_with_the_same_name_is_told_apart(server):
    _, made = make_class(server)
    names = [
        join(Browser(server), made["code"], n).json()["name"] for n in ("Chen", "chen", "Chen")
    ]
    assert names == ["Chen", "chen (2)", "Chen (3)"]


def test_the_results_have_the_seed_the_varied_setting_and_iso_times(server):
    teacher, made = make_class(server, vary={"field": "n_layer", "values": [1, 2]})
    for name in ("=cmd", "Bo"):
        join(Browser(server), made["code"], name)
    table = teacher.get(f"/api/classes/{made['code']}/results.csv").text
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [(r["student"], r["seed"], r["n_layer"]) for r in rows] == [
        ("'=cmd", "42", "1"),
        ("Bo", "43", "2"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["joined_at"]) for r in rows)


def test_the_ways_in_and_the_teacher_link(server):
    home = Browser(server).get("/").text
    assert 'href="/class/new"' in home and 'href="/class"' in home
    box = Browser(server).get("/class")
    assert box.status_code == 200 and 'name="code"' in box.text

    teacher = Browser(server)
    teacher.get("/")
    created = teacher.client.post("/ui/classes", data={"name": "Period 3"})
    assert created.status_code == 201
    link = re.search(r'value="(http[^"]+/teach\?key=[^"]+)"', created.text).group(1)
    code = re.search(r"/class/([A-Z0-9]{6})/teach", link).group(1)
    view = teacher.get(f"/class/{code}/teacher").text
    key = link.split("key=")[1]
    assert key not in view and key not in teacher.get(f"/api/classes/{code}").text
    assert key not in teacher.get(f"/api/classes/{code}/results.csv").text

    # any case, a misread letter forgiven: O for D, 1 for L
    typed = code.lower().replace("d", "o").replace("l", "1")
    found = Browser(server).get("/class", params={"code": f" {typed} "}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/class/{code}"
    missing = Browser(server).get("/class", params={"code": "ZZZZZZ"})
    assert missing.status_code == 404 and "ZZZZZZ" in missing.text

    projector = Browser(server)
    assert projector.get(link.removeprefix(server.url), follow_redirects=False).status_code == 303
    assert projector.get(f"/api/classes/{code}").status_code == 200
    # asked again: a new link; the old one no longer works
    assert Browser(server).client.post(f"/ui/classes/{code}/teacher-link").status_code == 403
    again = teacher.client.post(f"/ui/classes/{code}/teacher-link")
    fresh = re.search(r'value="(http[^"]+)"', again.text).group(1)
    assert fresh != link
    assert Browser(server).get(link.removeprefix(server.url)).status_code == 403
    assert (
        Browser(server).get(fresh.removeprefix(server.url), follow_redirects=False).status_code
        == 303
    )


def test_a_students_home_is_their_run_and_anothers_run_is_watch_only(server):
    _, made = make_class(server)
    ada, bob = Browser(server), Browser(server)
    ada_run = join(ada, made["code"], "Ada").json()["run"]
    bob_run = join(bob, made["code"], "Bob").json()["run"]
    assert 'data-testid="run-title">Ada<' in ada.get("/").text
    watching = bob.get(f"/?run={ada_run}").text
    assert 'data-testid="watch-only"' in watching and 'data-testid="manage-run"' not in watching
    assert f'href="/?run={bob_run}" data-testid="my-run-link"' in watching
    own = ada.get(f"/?run={ada_run}").text
    assert 'data-testid="watch-only"' not in own and 'data-testid="manage-run"' in own
