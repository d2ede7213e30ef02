"""The page in a real browser: the latest step on reload, the greedy completion, the speed
menu (slow motion), the model file (download, load back, a broken file), and a model with
another vocabulary and context (no "e", 4 tokens).

One server (fresh data dir) serves this module; the tests run in file order and build on each
other's model state. Screenshots: artifacts/screenshots/{slow-motion,model-file,
custom-vocabulary}.png.
"""

import json
import re
import time

import httpx
import pytest

from engine import GPTConfig, Trainer
from tests.browser.conftest import generate_samples, wait_for, wait_stepline

STEPLINE = "[data-testid=stepline]"


@pytest.fixture(scope="module")
def server(own_server):
    """A server of this module's own: a test restarts it."""
    return own_server


def wait_live(page) -> None:
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")


def run_step(page) -> int:
    m = re.match(r"step\s+(\d+)", page.inner_text(STEPLINE).strip())
    assert m, page.inner_text(STEPLINE)
    return int(m[1])


def type_prefix(page, text: str) -> None:
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", text, delay=30)


def test_a_reload_with_no_other_tab_open_shows_the_latest_step(server, open_events, open_page):
    stream = open_events(server.url)
    stream.wait_event("status")
    assert server.post("/api/train", {"steps": 30}).status_code == 200
    stream.wait_event("done")
    last = stream.named("step")[-1].data

    page, _ = open_page(server.url)  # no page was open during the run

    assert page.inner_text("[data-testid=recipe-doc]") == last["doc"]
    assert "Step 30:" in page.inner_text("[data-testid=recipe]")
    assert page.inner_text("[data-testid=recipe-loss]") == f"{last['loss']:.4f}"
    assert page.inner_text(STEPLINE).split() == ["step", "30", "/", "30"]
    assert f"{last['loss']:.4f}" in page.inner_text("[data-testid=lossline]")


def test_the_prefix_panel_shows_the_most_likely_completion(server, open_page):
    page, _ = open_page(server.url)
    wait_live(page)
    assert page.inner_text("[data-testid=greedy]").startswith("most likely completion:")

    type_prefix(page, "em")
    wait_for(
        page,
        "document.querySelector('#predict [data-testid=top5-title]').textContent.includes('“em”')",
    )

    greedy = httpx.get(server.url + "/api/predict", params={"prefix": "em"}).json()["greedy"]
    assert greedy.startswith("em")
    shown = page.inner_text("[data-testid=greedy] .completion")
    assert shown == greedy
    assert page.inner_text("[data-testid=greedy] .typed") == "em"


def test_slow_motion_slows_the_run_for_every_tab_and_full_speed_finishes_it(
    server, open_page, screenshot
):
    page, _ = open_page(server.url)
    other, _ = open_page(server.url)
    wait_live(page)
    wait_live(other)
    assert page.input_value("[data-testid=pace]") == ""  # full speed
    labels = page.eval_on_selector_all(
        "[data-testid=pace] option", "els => els.map(e => e.textContent.trim())"
    )
    assert labels == ["full", "20 steps/s", "5 steps/s", "1 step/s"]
    assert page.inner_text("label[for=pace-select]") == "speed"

    page.select_option("[data-testid=pace]", "5")
    wait_for(other, "document.querySelector('[data-testid=pace]').value === '5'")
    assert httpx.get(server.url + "/api/state").json()["pace"] == 5

    # 60 steps: ~10 of them in slow motion, the rest at full speed
    page.click("[data-testid=advanced] summary")
    page.fill("[data-testid=steps]", "60")
    page.click("[data-testid=train]")
    wait_for(page, "document.querySelector('[data-testid=train]').disabled")
    wait_stepline(page, 3, 60)
    before, started = run_step(page), time.monotonic()
    page.wait_for_timeout(2000)
    done = run_step(page) - before
    seconds = time.monotonic() - started
    assert 3 <= done <= 5 * seconds + 3, f"{done} steps in {seconds:.1f} s at 5 steps/s"
    rate = float(page.inner_text("[data-testid=rate]").split()[0])
    assert 3.5 <= rate <= 6, rate
    screenshot(page, "slow-motion")

    other.select_option("[data-testid=pace]", "")  # full speed, from the other tab
    wait_for(page, "document.querySelector('[data-testid=pace]').value === ''")
    wait_stepline(page, 60, 60, timeout=60_000)
    page.locator("[data-testid=run-summary]").wait_for()
    wait_for(page, "!document.querySelector('[data-testid=train]').disabled")


def test_the_train_button_says_how_many_steps_it_will_train(server, open_page):
    page, _ = open_page(server.url)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    train = page.locator("[data-testid=train]")
    assert train.inner_text() == "Train 500 steps"
    page.click("[data-testid=advanced] summary")

    page.fill("[data-testid=steps]", "1200")
    assert train.inner_text() == "Train 1,200 steps"
    page.fill("[data-testid=steps]", "1")
    assert train.inner_text() == "Train 1 step"
    page.fill("[data-testid=steps]", "0")  # not a number of steps: the server will say so
    assert train.inner_text() == "Train"

    # the buttons are re-rendered by every status event: the label still follows the field
    page.fill("[data-testid=steps]", "3")
    before = httpx.get(server.url + "/api/state").json()["step"]
    page.click("[data-testid=train]")
    wait_for(
        page,
        "(n) => document.querySelector('[data-testid=status]').textContent.includes(n)",
        arg=f"{before + 3} steps",
    )
    assert train.inner_text() == "Train 3 steps"
    assert httpx.get(server.url + "/api/state").json()["step"] == before + 3


def test_the_speed_menu_is_keyboard_operable(server, open_page):
    page, _ = open_page(server.url)
    wait_live(page)

    page.focus("[data-testid=pace]")
    page.keyboard.press("ArrowDown")  # full → 20 steps/s (a change event)

    wait_for(page, "document.querySelector('[data-testid=pace]').value === '20'")
    deadline = time.monotonic() + 5
    while httpx.get(server.url + "/api/state").json()["pace"] != 20:
        assert time.monotonic() < deadline, "the pace did not reach the service"
        time.sleep(0.05)
    page.wait_for_timeout(300)  # the status event re-renders the menu: focus stays on it
    assert page.evaluate("document.activeElement.id") == "pace-select"
    page.select_option("[data-testid=pace]", "")


def global_step(page) -> int:
    return int(page.inner_text("[data-testid=global-step]").replace(",", ""))


def upload_file(page, files) -> None:
    page.set_input_files("[data-testid=checkpoint-file]", files)
    page.click("[data-testid=upload]")


def test_the_model_file_downloads_and_loads_back(server, open_page, screenshot):
    page, _ = open_page(server.url)
    wait_live(page)
    trained = server.state()["step"]
    assert trained >= 60  # the earlier tests' runs
    assert global_step(page) == trained
    page.click("[data-testid=model-file] summary")

    with page.expect_download() as download:
        page.click("[data-testid=download]")
    path = download.value.path()
    assert download.value.suggested_filename.endswith(f"-step{trained}.json")
    assert json.loads(path.read_text())["step"] == trained

    # a fresh run (the trained one stays in the list), then the downloaded file loaded back
    # into a run of its own: the page opens it, at the step the file was
    first = server.state()["id"]
    page.fill("[data-testid=seed]", "5")
    page.click("[data-testid=reset]")
    page.wait_for_url(lambda url: f"run={first}" not in url and "run=" in url)
    wait_live(page)
    wait_for(
        page, "document.querySelector('[data-testid=status]').textContent.includes('untrained')"
    )
    assert global_step(page) == 0
    fresh = server.state()["id"]
    page.click("[data-testid=model-file] summary")
    upload_file(page, path)
    page.wait_for_url(lambda url: f"run={fresh}" not in url)
    wait_live(page)
    loaded = server.state()
    assert loaded["id"] not in (first, fresh) and loaded["step"] == trained
    assert page.url.endswith(f"/?run={loaded['id']}")
    wait_for(
        page,
        "n => document.querySelector('[data-testid=status]').textContent.includes(n + ' steps')",
        arg=f"{trained:,}",
    )
    assert global_step(page) == trained
    screenshot(page, "model-file", full_page=False)

    # a broken file: the service's message, inline, and no run is made
    runs = len(server.get("/api/runs").json()["runs"])
    page.click("[data-testid=model-file] summary")
    upload_file(
        page, {"name": "broken.json", "mimeType": "application/json", "buffer": b'{"format": '}
    )
    error = page.locator("[data-testid=upload-error]")
    error.wait_for()
    assert "not valid JSON" in error.inner_text()
    assert len(server.get("/api/runs").json()["runs"]) == runs
    assert page.url.endswith(f"/?run={loaded['id']}")


def test_a_model_without_e_still_renders_trains_and_answers(server, open_page, screenshot):
    open_tab, _ = open_page(server.url)
    wait_live(open_tab)
    assert open_tab.inner_text("[data-testid=probe-title]") == "What comes after “e”?"
    assert open_tab.get_attribute("[data-testid=prefix]", "maxlength") == "7"
    assert "ln 27 ≈ 3.30" in open_tab.inner_text("#loss-hint")
    # another vocabulary (a, b, o and [BOS]) and a shorter context than the names model
    config = GPTConfig(n_embd=16, n_head=4, n_layer=1, block_size=6)
    data = json.dumps(Trainer(docs=["abba", "bob"], config=config).to_dict())

    response = httpx.post(
        server.url + "/api/checkpoint",
        content=data,
        headers={"content-type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    new = response.json()["id"]
    # the tab that was open keeps its run and offers the new one; the new run's page shows
    # the new model: title, facts, uniform guess, prefix limit
    open_tab.locator("[data-testid=run-news-link]").click()
    open_tab.wait_for_url(lambda url: url.endswith(f"/?run={new}"))
    wait_live(open_tab)
    facts = open_tab.inner_text("[data-testid=model-facts]")
    for fact in ("vocabulary 4", "context 6", "dataset 2 documents (its own)"):
        assert fact in facts, facts
    assert "names" not in facts
    assert "ln 4 ≈ 1.39" in open_tab.inner_text("#loss-hint")
    assert open_tab.get_attribute("[data-testid=prefix]", "maxlength") == "5"
    page, _ = open_page(server.url)
    wait_live(page)
    assert page.inner_text("[data-testid=probe-title]") == "What comes first, after [BOS]?"
    assert "no “e”" in page.inner_text("[data-testid=probe-note]")
    assert page.locator("#dist .bar").count() == 4  # a, b, o, [BOS]
    assert "characters a b o, up to 5" in page.inner_text("#prefix-help")
    assert page.get_attribute("[data-testid=prefix]", "maxlength") == "5"
    assert "1/4 ≈" not in page.inner_text("#probe-explain")  # the "no e" note instead

    type_prefix(page, "be")
    error = page.locator("[data-testid=prefix-error]")
    error.wait_for()
    assert "'e'" in error.inner_text() and "allowed: abo" in error.inner_text()
    type_prefix(page, "ab")
    page.locator("[data-testid=greedy]").wait_for()
    assert page.inner_text("[data-testid=greedy] .typed") == "ab"

    page.click("[data-testid=advanced] summary")
    page.fill("[data-testid=steps]", "100")
    page.click("[data-testid=train]")
    wait_stepline(page, 100, 100, timeout=60_000)
    wait_for(
        page, "document.querySelector('[data-testid=status]').textContent.includes('100 steps')"
    )
    assert page.locator("[data-testid=recipe-doc]").inner_text() in ("abba", "bob")
    # the uniform-guess line, its legend and the run summary use ln 4, not ln 27
    legend = page.inner_text("#loss-chart .u-legend")
    assert "uniform guess (ln 4)" in legend and "1.39" in legend, legend
    summary = page.inner_text("[data-testid=run-summary]")
    assert "uniform guess of 1.39 (ln 4)" in summary and "its documents" in summary, summary
    assert "uniform guess over 4 tokens scores 1.39" in page.inner_text("#loss-desc")
    # samples: "in dataset" only for the model's own documents, and the note says so
    generate_samples(page)
    rows = page.eval_on_selector_all(
        "[data-testid=sample-list] li",
        "els => els.map(e => [e.firstChild.textContent.trim(), e.dataset.known])",
    )
    assert rows and all((name in ("abba", "bob")) == (known == "true") for name, known in rows)
    note = page.inner_text("[data-testid=samples-note]")
    assert "documents of its dataset" in note and "real names" not in note
    # the prefix panel catches up with the final weights once the run is over
    wait_for(page, "document.querySelector('#predict .legend').textContent.includes('(step 100)')")
    assert httpx.get(server.url + "/api/state").json()["worker_pid"] is None  # worker freed
    screenshot(page, "custom-vocabulary")


def test_a_run_cut_off_by_a_restart_resumes_from_the_page(server, open_page):
    server.post("/api/pace", {"steps_per_sec": 40})
    assert server.post("/api/train", {"steps": 2000}).status_code == 200
    server.wait_for_state(lambda s: s["step"] - s["segment"]["start_step"] >= 30)
    server.restart()  # a graceful stop mid-run: the run comes back as interrupted
    state = server.state()
    assert state["status"] == "interrupted"

    page, _ = open_page(server.url)
    wait_live(page)
    assert "interrupted" in page.inner_text("[data-testid=status]")
    assert page.is_disabled("[data-testid=step-once]") is False
    page.click("[data-testid=resume]")
    wait_for(
        page,
        f"""() => {{
            const m = document.querySelector('[data-testid=stepline]')
                .textContent.match(/step\\s+(\\d+)/);
            return m && Number(m[1]) > {state["step"] - state["segment"]["start_step"]};
        }}""",
    )
    assert page.is_visible("[data-testid=pause]")
    assert server.post("/api/stop").status_code == 200
    server.post("/api/pace", {"steps_per_sec": None})
