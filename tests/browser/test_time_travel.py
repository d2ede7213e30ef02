"""Time travel in a real browser: the timeline under the loss chart (dragged with the mouse,
moved with ←/→), a click on the loss chart, on a small multiple or on the probability line puts
the page in "viewing step k": the bar says so, the "e" card, the recipe, Ask the model, the
samples and the Parameters panel all show step k (checked against the API at step k and the
names the run read), the address carries ?step=k and opening it starts there; "back to live"
follows training again, also in the middle of a run; a bad step in the address opens live,
saying why; a new model leaves the past.

A fresh run on the shared server serves this module; the tests run in file order: a 40-step run
first, then each test views it. Screenshots: artifacts/screenshots/time-travel.png (light,
1400 px, a run going on underneath), time-travel-dark.png (checked by axe too),
time-travel-390.png.
"""

import re

import pytest

from tests.browser.conftest import press_until, wait_for

RUN = 40

VIEW = """() => ({
    view: document.documentElement.dataset.view ?? null,
    wanted: document.getElementById('view-step').value,
    range: document.getElementById('timeline').value,
    max: document.getElementById('timeline').max,
    url: location.search,
})"""


@pytest.fixture(scope="module")
def docs(server, connect_events) -> dict[int, str]:
    """Train RUN steps; the name each step read, from the event stream."""
    stream = connect_events(server.url)
    stream.wait_event("status")
    assert server.post("/api/train", {"steps": RUN}).status_code == 200
    stream.wait_event("done", timeout=60)
    return {e.data["step"]: e.data["doc"] for e in stream.named("step")}


def open_live(open_page, url: str, **kw):
    page, watch = open_page(url, **kw)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    wait_for(page, "document.querySelector('#loss-chart canvas')")
    return page, watch


def wait_viewing(page, step: int) -> None:
    """The page shows step ``step``: the state, the bar, the "e" card and the recipe."""
    wait_for(
        page,
        """(k) => document.documentElement.dataset.view === String(k)
            && document.querySelector('[data-testid=view-status]')?.dataset.step === String(k)
            && document.querySelector('#dist-view .dist')?.dataset.step === String(k)
            && document.querySelector('#recipe-view .recipe')?.dataset.step === String(k)""",
        arg=step,
    )


def viewed(page) -> int:
    """The step the page settled on: the one the timeline asked for, once it is on view."""
    wait_for(
        page,
        """() => {
            const v = document.documentElement.dataset.view;
            return v !== undefined && v === document.getElementById('view-step').value
                && v === document.getElementById('timeline').value;
        }""",
    )
    k = int(page.evaluate("document.documentElement.dataset.view"))
    wait_viewing(page, k)
    return k


def wait_samples_at(page, step: int) -> None:
    wait_for(
        page,
        "(k) => document.querySelector('[data-testid=samples-note]')"
        "?.textContent.includes(`At step ${k},`)",
        step,
    )


def assert_shows_step(page, k: int, docs: dict[int, str]) -> None:
    """Every panel that follows the view says step k, with step k's values."""
    state = page.evaluate(VIEW)
    assert state["url"] == f"?step={k}"
    bar = page.inner_text("[data-testid=view-status]")
    assert re.search(rf"Viewing step {k:,}\s+of {RUN}", bar), bar
    assert page.locator("[data-testid=back-live]").is_visible()
    # the live panels are out of sight, step k's in their place
    assert not page.locator("#dist").is_visible()
    assert page.locator("#dist-view").is_visible()
    bars = page.get_attribute("#dist-view [data-testid=bars]", "aria-label")
    assert f"at step {k}:" in bars, bars
    assert not page.locator("#recipe").is_visible()
    assert page.inner_text("#recipe-view [data-testid=recipe-doc]") == docs[k]
    assert f"Step {k}:" in page.inner_text("#recipe-view")
    # the Parameters panel drew step k's frame
    wait_for(page, "(k) => document.getElementById('params-grid').dataset.step === String(k)", k)
    # every card that shows step k says so in its header
    tags = page.eval_on_selector_all(
        "[data-view-step]", "els => els.filter((e) => e.offsetParent).map((e) => e.textContent)"
    )
    assert tags and set(tags) == {str(k)}, tags


def test_dragging_the_timeline_and_arrow_keys_show_past_steps(server, docs, open_page):
    page, _ = open_live(open_page, server.url, width=1400, height=900)
    params = []
    page.on("request", lambda r: params.append(r.url) if "params.bin" in r.url else None)
    wait_for(page, "(n) => document.getElementById('timeline').max === String(n)", RUN)
    assert page.evaluate(VIEW)["view"] is None
    assert page.input_value("#timeline") == str(RUN)  # live: the thumb at the newest step

    # drag the thumb from the end to about a quarter of the way
    box = page.locator("#timeline").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] - 6, y)
    page.mouse.down()
    for f in (0.8, 0.6, 0.4, 0.25):
        page.mouse.move(box["x"] + box["width"] * f, y, steps=4)
    page.mouse.up()
    k = viewed(page)
    assert 4 <= k <= 16, k
    assert_shows_step(page, k, docs)
    assert any(re.search(rf"/api/runs/\d+/params\.bin\?step={k}$", u) for u in params), params

    # ←/→ on the timeline: one step back, one forward
    page.focus("#timeline")
    page.keyboard.press("ArrowLeft")
    wait_viewing(page, k - 1)
    assert_shows_step(page, k - 1, docs)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_viewing(page, k + 1)
    assert_shows_step(page, k + 1, docs)


def test_ask_the_model_and_samples_answer_at_the_step_on_view(server, docs, open_page):
    page, _ = open_live(open_page, f"{server.url}/?step=12")
    wait_viewing(page, 12)
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", "em", delay=30)
    wait_for(
        page,
        "document.querySelector('#predict [data-testid=top5-title]')?.textContent.includes('“em”')",
    )

    def assert_predicts_at(k: int) -> None:
        wait_for(
            page,
            "(k) => document.querySelector('#predict .dist')?.dataset.step === String(k)",
            k,
        )
        api = server.get("/api/predict", params={"prefix": "em", "step": k}).json()
        assert page.inner_text("[data-testid=greedy] .completion") == api["greedy"]
        top = sorted(range(len(api["probs"])), key=lambda i: -api["probs"][i])[:5]
        shown = page.eval_on_selector_all(
            "#predict [data-testid=top5] .ch", "els => els.map((e) => e.textContent)"
        )
        assert shown == [api["vocab"][i] for i in top]

    assert_predicts_at(12)
    press_until(
        page,
        "[data-testid=generate]",
        "document.querySelector('[data-testid=samples-note]')?.textContent.includes('At step 12,')",
    )

    # another step: Ask the model and the samples on screen follow it
    page.focus("#timeline")
    page.keyboard.press("ArrowLeft")
    wait_viewing(page, 11)
    assert_predicts_at(11)
    wait_samples_at(page, 11)

    # back to live: the newest step again, everywhere
    page.click("[data-testid=back-live]")
    wait_for(
        page, "(n) => document.querySelector('#predict .dist')?.dataset.step === String(n)", RUN
    )
    wait_samples_at(page, RUN)
    assert page.evaluate(VIEW)["view"] is None


def test_a_click_on_the_chart_a_multiple_or_the_line_goes_to_that_step(server, docs, open_page):
    page, _ = open_live(open_page, server.url, width=1400, height=900)
    wait_for(page, "(n) => document.getElementById('loss-chart').dataset.points === String(n)", RUN)

    # the loss chart: its x axis spans the history, as the timeline does (step 0 … the newest)
    over = page.locator("#loss-chart .u-over").bounding_box()
    page.mouse.click(over["x"] + over["width"] * 0.5, over["y"] + over["height"] / 2)
    k = viewed(page)
    assert abs(k - 0.5 * RUN) <= 1, k
    # the timeline's thumb sits under that step of the chart
    thumb = page.evaluate(
        """() => {
            const r = document.getElementById('timeline');
            const box = r.getBoundingClientRect();
            const f = (r.value - r.min) / (r.max - r.min);
            return box.left + 8 + f * (box.width - 16);
        }"""
    )
    assert abs(thumb - (over["x"] + over["width"] * 0.5)) <= 8, thumb
    assert_shows_step(page, k, docs)

    # a small multiple: the one at 25% of the history
    multiple = page.locator("[data-testid=multiple]").nth(2)
    step = int(multiple.get_attribute("data-step"))
    assert 0 < step < RUN
    multiple.click()
    wait_viewing(page, step)
    assert_shows_step(page, step, docs)
    assert multiple.get_attribute("aria-current") == "true"

    # the probability line: of the character most likely after "e" now, unless another is picked
    top = page.get_attribute("#multiples .multiples", "data-top")
    assert page.input_value("#probe-char") == top
    page.select_option("#probe-char", "a")
    api = server.get("/api/probes", params={"prefix": "e", "char": "a"}).json()
    assert api["steps"] == list(range(RUN + 1))
    wait_for(
        page,
        "(n) => (b => b.dataset.char === 'a' && b.dataset.points === String(n))"
        "(document.getElementById('probe-line'))",
        len(api["steps"]),
    )
    last = f"{100 * api['probs'][-1]:.1f}% at step {RUN}"
    assert page.inner_text("#probe-line-desc").endswith(last)
    # step 0 … the newest across its plot
    line = page.locator("#probe-line .u-over").bounding_box()
    page.mouse.click(line["x"] + line["width"] * 0.75, line["y"] + line["height"] / 2)
    k = viewed(page)
    assert abs(k - 0.75 * RUN) <= 1, k
    assert_shows_step(page, k, docs)


def test_a_link_to_a_step_opens_on_it_and_a_bad_one_opens_live(server, docs, open_page):
    page, _ = open_page(f"{server.url}/?step=7")
    # server-rendered already viewing: no flash of the live panels
    assert page.evaluate("document.documentElement.dataset.view") == "7"
    assert page.input_value("#view-step") == "7"
    assert page.input_value("#timeline") == "7"
    wait_viewing(page, 7)
    assert_shows_step(page, 7, docs)

    bad, _ = open_page(f"{server.url}/?step={RUN + 100}")
    alert = bad.locator("#view-bar [role=alert]")
    assert alert.is_visible()
    assert str(RUN + 100) in alert.inner_text()
    assert bad.evaluate(VIEW)["view"] is None
    assert bad.evaluate("location.search") == ""  # not a link to a moment any more
    assert bad.locator("#dist").is_visible()


def test_back_to_live_follows_a_run_in_progress_again(server, docs, open_page, screenshot):
    page, _ = open_live(open_page, f"{server.url}/?step=20", width=1400, height=900)
    wait_viewing(page, 20)
    assert server.post("/api/pace", {"steps_per_sec": 20}).status_code == 200
    try:
        # slowed down, and long: still going when the test is done with it (then paused)
        assert server.post("/api/train", {"steps": 400}).status_code == 200
        # training goes on underneath: the timeline's end grows, the view stays at step 20
        wait_for(page, "(n) => Number(document.getElementById('timeline').max) >= n + 5", RUN)
        wait_for(
            page, "(n) => Number(document.querySelector('[data-newest]').textContent) >= n + 5", RUN
        )
        assert page.evaluate(VIEW)["view"] == "20"
        assert page.get_attribute("#dist-view .dist", "data-step") == "20"
        page.evaluate("document.activeElement.blur()")
        screenshot(page, "time-travel", full_page=False)

        page.click("[data-testid=back-live]")
        assert page.evaluate(VIEW)["view"] is None
        assert page.evaluate("location.search") == ""
        assert page.locator("#view-bar").inner_text() == ""
        assert page.locator("#dist").is_visible() and page.locator("#recipe").is_visible()
        # the live panels keep following the run
        seen = int(page.get_attribute("#dist .dist", "data-step"))
        wait_for(
            page, "(s) => Number(document.querySelector('#dist .dist').dataset.step) > s", seen
        )
        wait_for(
            page, "(s) => Number(document.querySelector('#recipe .recipe').dataset.step) > s", seen
        )
        # and the timeline's thumb stays at its end
        wait_for(
            page,
            "(id) => document.getElementById(id).value === document.getElementById(id).max",
            "timeline",
        )
    finally:
        server.post("/api/pause")
        server.post("/api/pace", {"steps_per_sec": None})
        server.wait_for_state(lambda s: s["status"] != "training")


def test_viewing_reads_well_in_the_dark_and_on_a_phone(server, docs, open_page, screenshot):
    dark, _ = open_live(open_page, f"{server.url}/?step=15", width=1400, height=900, scheme="dark")
    wait_viewing(dark, 15)
    screenshot(dark, "time-travel-dark", full_page=False)
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe
    violations = axe().run(dark).response["violations"]
    serious = [v["id"] for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, serious

    phone, _ = open_live(open_page, f"{server.url}/?step=15", width=390, height=844)
    wait_viewing(phone, 15)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    bar = phone.locator("[data-testid=view-status]").bounding_box()
    assert bar["x"] >= 0 and bar["x"] + bar["width"] <= 390 and bar["y"] + bar["height"] <= 844
    screenshot(phone, "time-travel-390", full_page=False)


def test_a_reset_leaves_the_viewed_past_and_the_new_run_starts_live(server, docs, open_page):
    page, _ = open_live(open_page, f"{server.url}/?step=10")
    wait_viewing(page, 10)
    reset = server.post("/api/reset", {"seed": 7})
    assert reset.status_code == 200
    page.locator("[data-testid=run-news-link]").wait_for()
    assert page.evaluate(VIEW)["view"] == "10"  # this run's past, still on screen
    page.locator("[data-testid=run-news-link]").click()
    page.wait_for_url(lambda url: url.endswith(f"/?run={reset.json()['id']}"))  # a new page
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    wait_for(page, "document.documentElement.dataset.view === undefined")
    wait_for(page, "document.getElementById('timeline').max === '0'")
    assert page.evaluate(VIEW)["url"] == f"?run={reset.json()['id']}"
    assert page.locator("#dist").is_visible()
