"""The page in a real browser: the latest step on reload, the greedy completion, the speed
menu (slow motion), and a model whose vocabulary has no "e".

One server (fresh data dir) serves this module; the tests run in file order and build on each
other's model state. Screenshots: artifacts/screenshots/{slow-motion,custom-vocabulary}.png.
"""

import json
import re
import time

import httpx
import pytest

from engine import Trainer

STEPLINE = "[data-testid=stepline]"


@pytest.fixture(scope="module")
def server(server_factory):
    return server_factory()


def wait_live(page) -> None:
    page.wait_for_function(
        "document.querySelector('[data-testid=connection]').dataset.conn === 'live'"
    )


def run_step(page) -> int:
    m = re.match(r"step\s+(\d+)", page.inner_text(STEPLINE).strip())
    assert m, page.inner_text(STEPLINE)
    return int(m[1])


def wait_stepline(page, step: int, total: int, timeout: float = 15_000) -> None:
    page.wait_for_function(
        """([step, total]) => {
            const m = document.querySelector('[data-testid=stepline]')
                .textContent.match(/step\\s+(\\d+) \\/\\s+(\\d+)/);
            return m && Number(m[1]) === step && Number(m[2]) === total;
        }""",
        arg=[step, total],
        timeout=timeout,
    )


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
    page.wait_for_function(
        "document.querySelector('#predict [data-testid=top5-title]').textContent.includes('“em”')"
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
    other.wait_for_function("document.querySelector('[data-testid=pace]').value === '5'")
    assert httpx.get(server.url + "/api/state").json()["pace"] == 5

    page.click("[data-testid=train]")  # 500 steps
    page.wait_for_function("document.querySelector('[data-testid=train]').disabled")
    wait_stepline(page, 3, 500)
    before, started = run_step(page), time.monotonic()
    page.wait_for_timeout(2000)
    done = run_step(page) - before
    seconds = time.monotonic() - started
    assert 3 <= done <= 5 * seconds + 3, f"{done} steps in {seconds:.1f} s at 5 steps/s"
    rate = float(page.inner_text("[data-testid=rate]").split()[0])
    assert 3.5 <= rate <= 6, rate
    screenshot(page, "slow-motion")

    other.select_option("[data-testid=pace]", "")  # full speed, from the other tab
    page.wait_for_function("document.querySelector('[data-testid=pace]').value === ''")
    wait_stepline(page, 500, 500, timeout=60_000)
    page.locator("[data-testid=run-summary]").wait_for()
    page.wait_for_function("!document.querySelector('[data-testid=train]').disabled")


def test_the_speed_menu_is_keyboard_operable(server, open_page):
    page, _ = open_page(server.url)
    wait_live(page)

    page.focus("[data-testid=pace]")
    page.keyboard.press("ArrowDown")  # full → 20 steps/s (a change event)

    page.wait_for_function("document.querySelector('[data-testid=pace]').value === '20'")
    deadline = time.monotonic() + 5
    while httpx.get(server.url + "/api/state").json()["pace"] != 20:
        assert time.monotonic() < deadline, "the pace did not reach the service"
        time.sleep(0.05)
    page.wait_for_timeout(300)  # the status event re-renders the menu: focus stays on it
    assert page.evaluate("document.activeElement.id") == "pace-select"
    page.select_option("[data-testid=pace]", "")


def test_a_model_without_e_still_renders_trains_and_answers(server, open_page, screenshot):
    open_tab, _ = open_page(server.url)
    wait_live(open_tab)
    assert open_tab.inner_text("[data-testid=probe-title]") == "What comes after “e”?"
    data = json.dumps(Trainer(docs=["abba", "bob"]).to_dict())

    response = httpx.post(
        server.url + "/api/checkpoint",
        content=data,
        headers={"content-type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 200, response.text
    # the tab that was open follows the new model
    open_tab.wait_for_function(
        "document.querySelector('[data-testid=probe-title]').textContent.includes('[BOS]')"
    )
    page, _ = open_page(server.url)
    wait_live(page)
    assert page.inner_text("[data-testid=probe-title]") == "What comes first, after [BOS]?"
    assert "no “e”" in page.inner_text("[data-testid=probe-note]")
    assert page.locator("#dist .bar").count() == 4  # a, b, o, [BOS]
    assert "characters a b o" in page.inner_text("#prefix-help")

    type_prefix(page, "be")
    error = page.locator("[data-testid=prefix-error]")
    error.wait_for()
    assert "'e'" in error.inner_text() and "allowed: abo" in error.inner_text()
    type_prefix(page, "ab")
    page.locator("[data-testid=greedy]").wait_for()
    assert page.inner_text("[data-testid=greedy] .typed") == "ab"

    page.click("[data-testid=train]")
    wait_stepline(page, 500, 500, timeout=60_000)
    page.wait_for_function(
        "document.querySelector('[data-testid=status]').textContent.includes('500 steps')"
    )
    assert page.locator("[data-testid=recipe-doc]").inner_text() in ("abba", "bob")
    # the prefix panel catches up with the final weights once the run is over
    page.wait_for_function(
        "document.querySelector('#predict .legend').textContent.includes('(step 500)')"
    )
    assert httpx.get(server.url + "/api/state").json()["worker_pid"] is not None
    screenshot(page, "custom-vocabulary")
