"""Nothing lost by a click, in a real browser: Reset opens a new run and keeps the trained one
one click away, Train asks before it ends a paused segment, the run summary compares smoothed
with smoothed, and the "e" card's text follows the model's step. The questions are part of the
page (no dialog: the fixture fails a test on any), reachable and answerable from the keyboard.

A fresh run on the shared server serves this module; each test sets up the state it needs.
Screenshots: artifacts/screenshots/{reset-keeps-run,confirm-train}.png.
"""

from tests.browser.conftest import wait_for

TRAIN_CARD = "section[aria-labelledby=h-train]"
QUESTION = "[data-testid=confirm-question]"


def wait_live(page) -> None:
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")


def focused(page) -> str | None:
    return page.evaluate("document.activeElement?.dataset.testid")


def status_text(page) -> str:
    return page.inner_text("[data-testid=status]").strip()


def wait_status(page, text: str) -> None:
    wait_for(
        page, "t => document.querySelector('[data-testid=status]').textContent.includes(t)", text
    )


def idle(server) -> dict:
    server.stop_all()  # a run an earlier test left training would hold a worker
    if server.state()["status"] != "idle":
        assert server.post("/api/stop").status_code == 200
    return server.state()


def train(server, steps: int) -> dict:
    assert server.post("/api/train", {"steps": steps}).status_code == 200
    return server.wait_for_state(lambda s: s["status"] == "idle")


def paused(server) -> dict:
    """A 5,000-step run paused a few steps in."""
    idle(server)
    assert server.post("/api/train", {"steps": 5000}).status_code == 200
    server.wait_for_state(lambda s: s["step"] > s["segment"]["start_step"] + 3)
    assert server.post("/api/pause").status_code == 200
    return server.state()


def test_reset_opens_a_new_run_and_the_trained_one_stays_one_click_away(
    server, open_page, screenshot
):
    idle(server)
    before = train(server, 5)
    page, _ = open_page(server.url)
    wait_live(page)

    page.fill("[data-testid=seed]", "9")
    page.click("[data-testid=reset]")

    # no question: nothing is discarded. The page opens the new run, untrained, seed 9
    page.wait_for_url(lambda url: "run=" in url and not url.endswith(f"run={before['id']}"))
    wait_live(page)
    wait_status(page, "untrained")
    state = server.state()
    assert state["seed"] == 9 and state["step"] == 0 and state["id"] != before["id"]
    assert page.url.endswith(f"/?run={state['id']}")
    assert page.locator(QUESTION).count() == 0

    # the trained run is in the list with its steps, and one click brings it back as it was
    page.click("[data-testid=runs-menu] summary")
    row = page.locator(f"[data-testid=run-row][data-run='{before['id']}']")
    row.wait_for()
    assert f"{before['step']:,}" in row.inner_text()
    screenshot(page, "reset-keeps-run", full_page=False)
    row.locator("[data-testid=run-link]").click()
    page.wait_for_url(lambda url: url.endswith(f"run={before['id']}"))
    wait_live(page)
    wait_status(page, f"{before['step']:,} steps")
    # a GET moves no default run: the page shows the run it opened, as it was
    assert server.get(f"/api/runs/{before['id']}/state").json()["step"] == before["step"]


def test_train_while_paused_asks_to_continue_or_start_a_new_run(server, open_page, screenshot):
    state = paused(server)
    run = state["segment"]
    left = run["end_step"] - state["step"]
    page, _ = open_page(server.url)
    wait_live(page)
    page.locator("[data-testid=resume]").wait_for()
    page.click("[data-testid=advanced] summary")
    page.fill("[data-testid=steps]", "5")

    page.click("[data-testid=train]")

    # the question names both ways on, and Train has not ended the paused run
    page.locator(QUESTION).wait_for()
    assert page.inner_text(QUESTION) == (
        f"The paused segment has done {state['step'] - run['start_step']:,} of its 5,000 steps."
    )
    go_on = page.locator("[data-testid=confirm-continue]")
    new = page.locator("[data-testid=confirm-new]")
    assert go_on.inner_text() == f"Continue the paused segment: {left:,} steps left"
    assert new.inner_text() == "Train 5 new steps instead (the paused segment ends)"
    assert focused(page) == "confirm-continue"
    assert server.state()["status"] == "paused"
    screenshot(page.locator(TRAIN_CARD), "confirm-train")
    page.wait_for_timeout(1500)  # nothing that arrives while paused takes the question away
    assert go_on.is_visible() and focused(page) == "confirm-continue"

    # every answer is a Tab away
    page.keyboard.press("Tab")
    assert focused(page) == "confirm-new"
    page.keyboard.press("Tab")
    assert focused(page) == "confirm-cancel"

    # Cancel: the paused run's buttons again
    page.keyboard.press("Enter")
    page.locator("[data-testid=resume]").wait_for()
    assert server.state()["segment"]["id"] == run["id"]

    # continue: the same run trains on towards its end
    page.click("[data-testid=train]")
    go_on.click()
    wait_for(
        page, "document.querySelector('[data-testid=status]').textContent.includes('training')"
    )
    assert server.state()["segment"]["id"] == run["id"]
    page.click("[data-testid=pause]")
    page.locator("[data-testid=resume]").wait_for()

    # a new run: the paused one ends, the new one trains its 5 steps
    page.click("[data-testid=train]")
    new.click()
    page.locator("[data-testid=run-summary]").wait_for()
    assert "5 steps in" in page.inner_text("[data-testid=run-summary]")
    state = server.state()
    assert state["segment"]["id"] != run["id"] and state["segment"]["steps"] == 5
    runs = {r["id"]: r for r in server.get("/api/history").json()["segments"]}
    assert runs[run["id"]]["status"] == "stopped"


def test_the_run_summary_compares_the_smoothed_loss_at_first_and_last_step(server, open_page):
    idle(server)
    assert server.post("/api/reset", {"seed": 42}).status_code == 200
    page, _ = open_page(server.url)
    wait_live(page)
    page.click("[data-testid=advanced] summary")
    page.fill("[data-testid=steps]", "20")

    page.click("[data-testid=train]")

    summary = page.locator("[data-testid=run-summary]")
    summary.wait_for()
    text = " ".join(summary.inner_text().split())
    points = server.get("/api/history").json()["points"]
    assert [p["step"] for p in points] == list(range(1, 21))
    first, last = points[0]["smooth"], points[-1]["smooth"]
    if round(last, 2) < round(first, 2):
        assert f"Loss fell from {first:.2f} to {last:.2f} (smoothed, first to last step)" in text
    else:
        assert f"Loss did not fall: {first:.2f} → {last:.2f} (smoothed" in text
        assert "learned" not in text


def test_the_e_card_text_follows_the_model_s_step(server, open_page):
    idle(server)
    assert server.post("/api/reset", {"seed": 42}).status_code == 200
    page, _ = open_page(server.url)
    wait_live(page)
    note = page.locator("[data-testid=probe-note]")
    assert note.inner_text().startswith("Untrained, the model spreads its guess almost evenly")

    train(server, 5)  # the open page follows
    wait_for(
        page,
        "document.querySelector('[data-testid=probe-note]').textContent.includes('After 5 steps')",
    )
    assert "only begun to move" in note.inner_text() and "Untrained" not in note.inner_text()

    train(server, 60)
    wait_for(
        page,
        "document.querySelector('[data-testid=probe-note]').textContent.includes('After 65 steps')",
    )
    assert "have grown" in note.inner_text()
    assert "the dashed outlines show the untrained guess, about 1/27 ≈ 3.7% each" in " ".join(
        note.inner_text().split()
    )

    page.reload()  # the page as served says the same
    wait_live(page)
    assert note.inner_text().startswith("After 65 steps")

    # a reset elsewhere: this page keeps its trained run and offers the new, untrained one
    new = server.post("/api/reset", {"seed": 42})
    assert new.status_code == 200
    page.locator("[data-testid=run-news-link]").click()
    page.wait_for_url(lambda url: url.endswith(f"/?run={new.json()['id']}"))
    wait_live(page)
    wait_for(
        page,
        "document.querySelector('[data-testid=probe-note]').textContent.includes('Untrained')",
    )
