"""A run's own data: a pasted list (one document per line) or a shipped example. The model
learns exactly those documents (the textbook engine on the same list gives the same curve),
its vocabulary is theirs, and bad data is named (the line, the character, the limit) with
nothing created."""

import pytest

from engine.data import load_example
from engine.reference import ReferenceGPT

PASTED = "Ada Lovelace\n\n  Grace Hopper  \nAlan Turing\nEdsger Dijkstra\n\nBarbara Liskov\n"
DOCS = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov"]
SHAPE = {"n_embd": 8, "n_head": 2, "n_layer": 1, "block_size": 12}


def run_ids(server) -> list[int]:
    return [r["id"] for r in server.get("/api/runs").json()["runs"]]


def create(server, **body) -> dict:
    response = server.post("/api/runs", body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_pasted_list_of_another_shape_gives_the_textbook_curve_of_that_list(server):
    server.stop_all()
    run = create(server, dataset={"text": PASTED}, seed=7, **SHAPE)
    state = server.get(f"/api/runs/{run['id']}/state").json()
    # its vocabulary: the list's characters (capitals and the space too), then [BOS]
    assert state["vocab"] == [*sorted(set("".join(DOCS))), "[BOS]"]
    assert (state["dataset"], state["num_docs"], run["dataset"]) == ("custom", 5, "own")

    assert server.post(f"/api/runs/{run['id']}/train", {"steps": 15}).status_code == 200
    server.wait_for_state(
        lambda _: (
            server.get(f"/api/runs/{run['id']}/state").json()["step"] == 15
            and server.get(f"/api/runs/{run['id']}/state").json()["status"] == "idle"
        )
    )

    history = server.get(f"/api/runs/{run['id']}/history").json()
    # the textbook engine holding out the shuffled list's last document, as every run does
    ref = ReferenceGPT(DOCS, seed=7, hold_out=True, **SHAPE)
    held_at_start = ref.held_out_loss(32)
    textbook = [ref.train_step(k, 15, run_step=k) for k in range(15)]
    worst = max(abs(p["loss"] - t) for p, t in zip(history["points"], textbook, strict=True))
    assert worst <= 1e-9, f"the curve is off the textbook engine's by {worst}"
    # its validation line: the held-out document's loss where the run started and ended
    assert history["held_out"] == 1
    assert [v["step"] for v in history["val"]] == [0, 15]
    assert abs(history["val"][0]["loss"] - held_at_start) <= 1e-9
    assert abs(history["val"][1]["loss"] - ref.held_out_loss(32)) <= 1e-9


@pytest.mark.parametrize("name", ["elements", "countries", "states"])
def test_a_shipped_example_is_one_name_away(server, name):
    run = create(server, dataset=name)

    state = server.get(f"/api/runs/{run['id']}/state").json()
    docs = load_example(name)
    assert run["dataset"] == name and state["num_docs"] == len(docs)
    assert state["vocab"] == [*sorted(set("".join(docs))), "[BOS]"]
    samples = server.get(f"/api/runs/{run['id']}/samples", params={"n": 3}).json()
    assert len(samples["samples"]) == 3


@pytest.mark.parametrize(
    ("dataset", "words"),
    [
        ({"text": "ok\nfine\nbad\x07bell"}, ["line 3", "U+0007", "control character"]),
        ({"text": "a\n" + "x" * 1001}, ["line 2", "1,001 characters", "at most 1,000"]),
        (
            {"text": "\n".join(chr(0x4E00 + i) for i in range(201))},
            ["line 201", "201st distinct character", "at most 200"],
        ),
        ({"text": "a\n" * 100_001}, ["line 100,001", "at most 100,000 documents"]),
        ({"text": "\n  \n\n"}, ["no documents", "every line is blank"]),
        ({"text": 5}, ["'dataset'", "text must be a string"]),
        ({"text": "a", "more": 1}, ["'dataset'", "names, elements, countries, states"]),
        ("poems", ["'dataset'", "poems", "names, elements, countries, states"]),
    ],
)
def test_bad_data_is_named_and_creates_nothing(server, dataset, words):
    before = run_ids(server)

    response = server.post("/api/runs", {"dataset": dataset})

    assert response.status_code == 422
    for word in words:
        assert word in response.json()["detail"], response.json()["detail"]
    assert run_ids(server) == before


def test_text_over_a_mebibyte_is_413_and_creates_nothing(server):
    before = run_ids(server)

    response = server.post("/api/runs", {"dataset": {"text": "abc\n" * (256 * 1024 + 1)}})

    assert response.status_code == 413
    assert "1,048,580 bytes" in response.json()["detail"]
    assert run_ids(server) == before
