"""The page's run forms without a browser: the new-run form is validated by the API's RunIn
(a bad field is named and what was typed is kept, nothing is created), its estimate follows the
fields, and rename and delete refuse what they cannot do."""

import html
import re

import httpx


def form_post(server, path: str, data: dict, **headers) -> httpx.Response:
    return httpx.post(server.url + path, data=data, headers=headers, timeout=30)


def run_ids(server) -> list[int]:
    return [r["id"] for r in server.get("/api/runs").json()["runs"]]


def test_the_estimate_counts_the_parameters_of_the_shape_typed(server):
    response = server.get(
        "/ui/runs/estimate", params={"n_embd": "8", "n_head": "2", "n_layer": "2", "seed": ""}
    )

    assert response.status_code == 200
    # 27·8 + 8·8 + 2·12·8² + 27·8: embeddings, two blocks, the output head
    assert 'data-testid="run-params">2,032<' in response.text


def test_the_estimate_names_a_head_count_that_does_not_divide_the_width(server):
    response = server.get("/ui/runs/estimate", params={"n_embd": "8", "n_head": "3"})

    assert response.status_code == 200
    assert "n_head" in response.text and "one of 1, 2, 4, 8" in response.text


def test_a_bad_field_is_named_the_typing_kept_and_no_run_created(server):
    before = run_ids(server)

    response = form_post(server, "/ui/runs", {"name": "wide", "n_embd": "99", "lr": "0.02"})

    assert response.status_code == 422
    assert "n_embd" in response.text and "99" in response.text
    assert 'value="wide"' in response.text and 'value="0.02"' in response.text
    assert run_ids(server) == before


def test_a_word_where_a_number_goes_is_named(server):
    response = form_post(server, "/ui/runs", {"seed": "forty-two"})

    assert response.status_code == 422
    assert "seed 'forty-two' is not a whole number" in html.unescape(response.text)


def test_a_good_form_creates_the_run_and_opens_its_page(server):
    response = form_post(
        server, "/ui/runs", {"name": "narrow", "n_embd": "8", "n_head": "2", "steps": "30"}
    )

    assert response.status_code == 303
    run = server.get("/api/runs").json()["runs"][-1]
    assert response.headers["location"] == f"/?run={run['id']}"
    assert (run["name"], run["n_embd"], run["n_head"], run["steps"]) == ("narrow", 8, 2, 30)


def test_from_htmx_the_new_run_opens_by_hx_redirect(server):
    response = form_post(server, "/ui/runs", {"name": ""}, **{"HX-Request": "true"})

    assert response.status_code == 204
    assert response.headers["hx-redirect"] == f"/?run={run_ids(server)[-1]}"


def test_rename_refuses_an_empty_name_and_keeps_the_old_one(server):
    run = run_ids(server)[0]
    name = server.get(f"/api/runs/{run}").json()["name"]

    response = form_post(server, f"/ui/runs/{run}/rename", {"name": "   "})

    assert response.status_code == 422
    assert "1 to 60 characters" in response.text
    assert server.get(f"/api/runs/{run}").json()["name"] == name


def test_delete_asks_unless_confirmed_and_an_unknown_run_is_named(server):
    run = run_ids(server)[-1]

    asked = form_post(server, f"/ui/runs/{run}/delete", {})

    assert asked.status_code == 200 and 'data-testid="delete-question"' in asked.text
    assert run in run_ids(server)
    gone = form_post(server, "/ui/runs/999/delete", {"confirm": "yes"})
    assert gone.status_code == 404 and "run 999 does not exist" in gone.text


def test_a_preset_link_opens_the_form_filled_in_and_creates_nothing(server):
    before = run_ids(server)

    response = server.get("/runs/new", params={"lr": "0.05", "n_layer": "2", "name": "deep"})

    assert response.status_code == 200
    page = response.text
    assert re.search(r'data-testid="new-run"\s+open', page)
    assert 'id="run-lr" name="lr" type="number" value="0.05"' in page
    assert 'id="run-n_layer" name="n_layer" type="number" value="2"' in page
    assert 'value="deep"' in page and 'value="42"' in page  # the rest: microgpt's defaults
    # 27·16 + 8·16 + 2·12·16² + 27·16 parameters
    assert 'data-testid="run-params">7,136<' in page
    assert run_ids(server) == before


def test_a_preset_with_a_bad_value_names_it_in_the_open_form(server):
    response = server.get("/runs/new", params={"n_embd": "999"})

    assert response.status_code == 200
    assert "n_embd" in response.text and "999" in response.text
    assert 'data-testid="run-form-error" role="alert">form' in response.text


def test_a_text_file_becomes_the_runs_own_list(server):
    response = httpx.post(
        server.url + "/ui/runs",
        data={"dataset": "own", "text": "", "name": "from a file"},
        files={"file": ("words.txt", b"\xef\xbb\xbfapple\r\npear\r\n\r\nplum\n", "text/plain")},
        timeout=30,
    )

    assert response.status_code == 303, response.text
    run = server.get("/api/runs").json()["runs"][-1]
    state = server.get(f"/api/runs/{run['id']}/state").json()
    assert (run["name"], run["dataset"], state["num_docs"]) == ("from a file", "own", 3)
    assert state["vocab"] == [*sorted(set("applepearplum")), "[BOS]"]


def test_a_file_that_is_not_utf8_is_named_and_creates_nothing(server):
    before = run_ids(server)

    response = httpx.post(
        server.url + "/ui/runs",
        data={"dataset": "own"},
        files={"file": ("latin1.txt", "café\n".encode("latin-1"), "text/plain")},
        timeout=30,
    )

    assert response.status_code == 422
    assert "latin1.txt is not UTF-8 text" in html.unescape(response.text)
    assert run_ids(server) == before
