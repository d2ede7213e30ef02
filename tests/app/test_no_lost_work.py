"""Nothing lost by a click: the page asks before Reset discards a trained model and before
Train ends a run that could be continued; the run summary compares like with like; the "e"
card's text follows the model's step. The JSON API stays explicit: it never asks."""

import html
import re

import httpx
import pytest

from app.templating import render
from app.web.views.run import probe_text, run_losses, summary_view

NAMES = {"config": {"vocab_size": 27}, "dataset": "names", "probes": ["e"]}


def summary_text(history: list, run: dict) -> str:
    summary = summary_view(NAMES, run, run_losses(history, run))
    return " ".join(re.sub(r"<[^>]+>", " ", render("summary", summary=summary)).split())


def done_run(start: int, end: int) -> dict:
    return {"status": "done", "start_step": start, "step": end, "steps": end - start,
            "elapsed": 2.0}  # fmt: skip


def test_summary_compares_the_smoothed_loss_at_the_run_s_first_and_last_step():
    # a noisy first loss (3.90) and a last one (1.20): neither is what the summary compares
    history = [(1, 3.90, 3.31), (2, 3.10, 3.02), (3, 2.20, 2.71), (4, 1.20, 2.48)]

    text = summary_text(history, done_run(0, 4))

    assert "Loss fell from 3.31 to 2.48 (smoothed, first to last step)" in text
    assert "below the uniform guess of 3.30 (ln 27): it has learned something" in text
    assert "3.90" not in text and "1.20" not in text


def test_summary_says_plainly_when_the_loss_did_not_fall():
    history = [(1, 2.10, 2.41), (2, 2.90, 2.45), (3, 2.60, 2.47)]

    text = summary_text(history, done_run(0, 3))

    assert "Loss did not fall: 2.41 → 2.47 (smoothed, first to last step)." in text
    assert "learned" not in text and "fell from" not in text


def test_summary_calls_an_unchanged_loss_not_fallen_as_shown_to_two_decimals():
    text = summary_text([(1, 2.0, 2.414), (2, 2.0, 2.409)], done_run(0, 2))

    assert "Loss did not fall: 2.41 → 2.41" in text


def test_summary_does_not_claim_learning_above_the_uniform_guess():
    # it fell, but a uniform guess (ln 27 = 3.30) would still do better
    text = summary_text([(1, 4.4, 4.40), (2, 3.9, 3.90)], done_run(0, 2))

    assert "Loss fell from 4.40 to 3.90" in text
    assert "learned" not in text


def test_summary_reads_only_the_run_s_own_steps():
    # an earlier run (steps 1-2) and a later one (step 5) around the run of steps 3-4
    history = [(1, 3.3, 3.30), (2, 3.0, 3.10), (3, 2.9, 2.95), (4, 2.8, 2.85), (5, 2.0, 2.00)]

    text = summary_text(history, done_run(2, 4))

    assert "2 steps in" in text and "Loss fell from 2.95 to 2.85" in text


def test_summary_of_a_one_step_run_gives_its_loss_without_a_comparison():
    text = summary_text([(1, 3.3, 3.30), (2, 3.2, 3.25)], done_run(1, 2))

    assert "1 step in" in text and "Loss after its one step: 3.25 (smoothed)." in text
    assert "fell" not in text and "learned" not in text


def probe_note(step: int, probes=("e",)) -> str:
    state = {**NAMES, "step": step, "probes": list(probes)}
    note = render("probe_explain", probe_text=probe_text(state))
    return " ".join(re.sub(r"<[^>]+>", " ", note).split())


def test_probe_text_describes_an_untrained_model_at_step_0():
    text = probe_note(0)

    assert text.startswith("Untrained, the model spreads its guess almost evenly")
    assert "1/27 ≈ 3.7%" in text


def test_probe_text_says_what_training_did_once_trained():
    text = probe_note(1185)

    assert text.startswith("After 1,185 steps, the characters that really follow “e” have grown")
    assert "the dashed outlines show the untrained guess, about 1/27 ≈ 3.7% each" in text
    assert "Untrained" not in text


def test_probe_text_after_a_few_steps_does_not_claim_the_guess_has_reshaped():
    assert probe_note(1).startswith("After 1 step, the guess has only begun to move")
    assert "have grown" not in probe_note(10)


def test_probe_text_for_a_model_without_e_follows_its_step_too():
    assert "Untrained" in probe_note(0, probes=[""])
    text = probe_note(300, probes=[""])
    assert "no “e”" in text and "After 300 steps" in text and "Untrained" not in text


# ---------- the /ui routes against a real server ----------


def ui_post(server, path: str, data: dict) -> httpx.Response:
    """A form post, as the page's htmx sends it."""
    return httpx.post(server.url + path, data=data, timeout=30)


@pytest.fixture
def idle(server):
    server.stop_all()  # a run an earlier test left training would hold a worker
    if server.state()["status"] != "idle":
        assert server.post("/api/stop").status_code == 200
    return server


@pytest.fixture
def trained(idle):
    """A model trained for at least 5 steps, idle."""
    if idle.state()["step"] == 0:
        assert idle.post("/api/train", {"steps": 5}).status_code == 200
        idle.wait_for_state(lambda s: s["status"] == "idle")
    return idle


@pytest.fixture
def paused(idle):
    """A 5,000-step run paused a few steps in."""
    assert idle.post("/api/train", {"steps": 5000}).status_code == 200
    idle.wait_for_state(lambda s: s["step"] > s["segment"]["start_step"] + 3)
    assert idle.post("/api/pause").status_code == 200
    yield idle
    if idle.state()["status"] != "idle":
        idle.post("/api/stop")


def test_ui_reset_opens_a_new_run_and_keeps_the_trained_one_as_it_was(trained):
    before = trained.state()

    response = ui_post(trained, "/ui/reset", {"seed": "9"})

    assert response.status_code == 303
    new = trained.state()
    assert response.headers["location"] == f"/?run={new['id']}"
    assert new["id"] != before["id"] and new["step"] == 0 and new["seed"] == 9
    kept = trained.get(f"/api/runs/{before['id']}/state").json()
    assert (kept["step"], kept["seed"]) == (before["step"], before["seed"])
    listed = {r["id"]: r for r in trained.get("/api/runs").json()["runs"]}
    assert listed[before["id"]]["step"] == before["step"]


def test_ui_reset_from_the_page_is_followed_by_htmx_to_the_new_run(trained):
    response = httpx.post(
        trained.url + "/ui/reset", data={"seed": ""}, headers={"HX-Request": "true"}, timeout=30
    )

    assert response.status_code == 204
    assert response.headers["hx-redirect"] == f"/?run={trained.state()['id']}"


def test_ui_reset_names_a_bad_seed_and_creates_no_run(idle):
    runs = len(idle.get("/api/runs").json()["runs"])

    response = ui_post(idle, "/ui/reset", {"seed": "x9"})

    assert response.status_code == 422
    assert "seed" in response.text and "x9" in response.text
    assert len(idle.get("/api/runs").json()["runs"]) == runs


def test_api_reset_of_a_trained_model_never_asks(trained):
    response = trained.post("/api/reset", {"seed": 3})

    assert response.status_code == 200
    assert response.json()["step"] == 0 and response.json()["seed"] == 3


def test_ui_train_while_paused_asks_to_continue_or_start_anew(paused):
    before = paused.state()
    left = before["segment"]["end_step"] - before["step"]

    response = ui_post(paused, "/ui/train", {"steps": "5", "lr": ""})

    assert response.status_code == 200
    assert f"Continue the paused segment: {left:,} steps left" in response.text
    assert "Train 5 new steps instead (the paused segment ends)" in response.text
    assert 'data-testid="confirm-cancel"' in response.text
    after = paused.state()
    assert after["status"] == "paused" and after["segment"]["id"] == before["segment"]["id"]


def test_ui_train_choosing_continue_resumes_the_paused_run(paused):
    run = paused.state()["segment"]

    response = ui_post(paused, "/ui/train", {"steps": "5", "lr": "", "choice": "continue"})

    assert response.status_code == 200
    state = paused.state()
    assert state["status"] == "training" and state["segment"]["id"] == run["id"]
    assert state["segment"]["end_step"] == run["end_step"]


def test_ui_train_choosing_new_ends_the_paused_run_and_trains_n_steps(paused):
    old = paused.state()["segment"]

    response = ui_post(paused, "/ui/train", {"steps": "5", "lr": "", "choice": "new"})

    assert response.status_code == 200
    state = paused.wait_for_state(lambda s: s["status"] == "idle")
    assert state["segment"]["id"] != old["id"] and state["segment"]["steps"] == 5
    runs = {r["id"]: r for r in paused.get("/api/history").json()["segments"]}
    assert runs[old["id"]]["status"] == "stopped"


def test_ui_train_refuses_an_unknown_choice_and_trains_nothing(paused):
    response = ui_post(paused, "/ui/train", {"steps": "5", "choice": "both"})

    assert response.status_code == 200
    assert "choice must be continue or new, got 'both'" in html.unescape(response.text)
    assert paused.state()["status"] == "paused"


def test_ui_train_when_idle_trains_without_asking(idle):
    response = ui_post(idle, "/ui/train", {"steps": "5"})

    assert response.status_code == 200
    assert 'data-testid="confirm"' not in response.text
    assert idle.state()["segment"]["steps"] == 5
    idle.wait_for_state(lambda s: s["status"] == "idle")


def test_api_train_while_paused_never_asks(paused):
    old = paused.state()["segment"]

    response = paused.post("/api/train", {"steps": 5})

    assert response.status_code == 200
    assert response.json()["status"] == "training" and response.json()["segment"]["id"] != old["id"]
    paused.wait_for_state(lambda s: s["status"] == "idle")


def test_ui_controls_answers_the_buttons_as_they_are(idle):
    response = httpx.get(idle.url + "/ui/controls", timeout=30)

    assert response.status_code == 200
    assert 'data-testid="train"' in response.text and 'data-testid="confirm"' not in response.text
