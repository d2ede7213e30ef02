"""The page in a real browser: watch it learn, live.

One server (fresh data dir) serves this module; the tests run in file order and build on each
other's model state (untrained → a 500-step run → controls → restart), which keeps the suite
short. Screenshots: artifacts/screenshots/{before,during,after,mobile,dark}.png.
"""

import re

import httpx
import pytest

from tests.browser.conftest import generate_samples, wait_for, wait_stepline

STEPLINE = "[data-testid=stepline]"


@pytest.fixture(scope="module")
def server(own_server):
    """A server of this module's own: a test stops and starts it."""
    return own_server


def stepline(page) -> tuple[int, int]:
    text = page.inner_text(STEPLINE)
    m = re.fullmatch(r"step\s+(\d+) /\s+(\d+)", text.strip())
    assert m, f"unexpected progress text {text!r}"
    return int(m[1]), int(m[2])


def global_step(page) -> int:
    return int(page.inner_text("[data-testid=global-step]").replace(",", ""))


def wait_step_at_least(page, n: int, timeout: float = 20_000) -> None:
    wait_for(
        page,
        """n => {
            const m = document.querySelector('[data-testid=stepline]')
                .textContent.match(/step\\s+(\\d+)/);
            return m && Number(m[1]) >= n;
        }""",
        arg=n,
        timeout=timeout,
    )


def bar_heights(page, container: str) -> list[str]:
    return page.eval_on_selector_all(
        f"{container} .bar .now", "els => els.map(e => e.style.getPropertyValue('--h'))"
    )


def chart_points(page) -> int:
    return int(page.get_attribute("[data-testid=loss-chart]", "data-points") or 0)


def wait_live(page) -> None:
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")


def test_page_shows_the_untrained_model(server, open_page, screenshot):
    page, _ = open_page(server.url)
    wait_live(page)

    facts = page.inner_text("[data-testid=model-facts]")
    facts_said = ("4,064 parameters", "vocabulary 27", "context 8", "1 layer", "4 heads")
    for fact in (*facts_said, "dataset 32,033 names, 3,204 held out"):
        assert fact in facts
    assert page.inner_text("[data-testid=status]").strip() == "ready · untrained"
    assert page.inner_text(STEPLINE) == "step    0 /  500"  # as the original prints it
    assert page.is_enabled("[data-testid=train]")
    assert page.is_disabled("[data-testid=pause]")

    # before training: 27 nearly flat bars at ~1/27 ≈ 3.7 % each
    assert len(bar_heights(page, "#dist")) == 27
    top = page.inner_text("[data-testid=top5] li:first-child .pct")
    assert 2.5 <= float(top.rstrip("%")) <= 6, top
    assert page.locator("[data-testid=recipe-empty]").is_visible()
    assert chart_points(page) == 0
    screenshot(page, "before")


def test_train_shows_the_model_learning_live(server, open_page, screenshot):
    page, _ = open_page(server.url)
    wait_live(page)
    bars_before = bar_heights(page, "#dist")
    predict_before = page.inner_html("#predict")

    page.click("[data-testid=train]")
    wait_for(page, "document.querySelector('[data-testid=train]').disabled")
    assert page.inner_text("[data-testid=status]").strip() == "training"
    wait_step_at_least(page, 20)
    step, total = stepline(page)
    assert total == 500 and 20 <= step < 500
    wait_for(page, "document.querySelector('[data-testid=loss-chart]').dataset.points >= 20")
    assert bar_heights(page, "#dist") != bars_before  # the bars for "e" reshape
    assert page.locator("[data-testid=recipe-steps] li").count() == 5
    assert re.fullmatch(r"\d+\.\d{4}", page.inner_text("[data-testid=recipe-loss]"))

    # the prefix box answers as you type, and keeps updating while training runs
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", "em", delay=30)
    wait_for(
        page,
        "document.querySelector('#predict [data-testid=top5-title]').textContent.includes('“em”')",
    )
    assert page.inner_html("#predict") != predict_before
    assert page.locator("[data-testid=attention] .head").count() == 4
    first = page.inner_html("#predict [data-testid=bars]")
    wait_for(
        page,
        "html => document.querySelector('#predict [data-testid=bars]').innerHTML !== html",
        arg=first,
    )
    screenshot(page, "during")

    # reload mid-run: the chart comes back from /api/history and the stream goes on
    page.reload()
    wait_live(page)
    # its ~60 files (styles, scripts, the modules they import) come from the browser's cache,
    # none asked for again, not even "is it still the same?" (app.web.assets)
    files = page.evaluate(
        """() => performance.getEntriesByType('resource')
            .filter((e) => new URL(e.name).pathname.startsWith('/static/'))
            .map((e) => [new URL(e.name).pathname, e.transferSize])"""
    )
    assert len(files) >= 30 and all(path.endswith((".js", ".css")) for path, _ in files[:30])
    assert [path for path, size in files if size > 0] == [], "asked for again on a reload"
    at_reload, _ = stepline(page)
    wait_step_at_least(page, min(at_reload + 5, 500))
    wait_for(
        page,
        "n => document.querySelector('[data-testid=loss-chart]').dataset.points > n",
        arg=at_reload - 1,
    )

    # the end of the run: 500 / 500, a summary, every point on the chart
    wait_step_at_least(page, 500, timeout=60_000)
    summary = page.locator("[data-testid=run-summary]")
    summary.wait_for()
    assert "500 steps" in summary.inner_text()
    wait_for(page, "document.querySelector('[data-testid=loss-chart]').dataset.points == 500")
    wait_for(page, "!document.querySelector('[data-testid=train]').disabled")
    assert page.inner_text("[data-testid=status]").strip() == "ready · 500 steps"

    # samples, marked as in the dataset or new
    generate_samples(page)
    names = page.locator("[data-testid=sample-list] li")
    assert names.count() == 10
    tags = set(names.evaluate_all("els => els.map(e => e.dataset.known)"))
    assert tags <= {"true", "false"}
    assert "real names" in page.inner_text("[data-testid=samples-note]")
    page.type("[data-testid=prefix]", "em", delay=30)
    wait_for(
        page,
        "document.querySelector('#predict [data-testid=top5-title]').textContent.includes('“em”')",
    )
    page.evaluate("document.activeElement.blur()")  # no focus ring in the README's picture
    screenshot(page, "after")  # the README's picture: `make screenshots` copies it to docs/


def test_invalid_prefix_is_explained_inline(server, open_page):
    page, _ = open_page(server.url)
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", "e1", delay=30)
    error = page.locator("[data-testid=prefix-error]")
    error.wait_for()
    assert "'1'" in error.inner_text() and "allowed" in error.inner_text()
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", "a", delay=30)
    page.locator("#predict [data-testid=top5-title]").wait_for()


def test_controls_follow_the_status(server, open_page):
    page, _ = open_page(server.url)
    wait_live(page)
    before = global_step(page)

    # step once: a one-step run, its recipe shown
    page.click("[data-testid=step-once]")
    wait_stepline(page, 1, 1)
    page.locator("[data-testid=recipe-doc]").wait_for()
    wait_for(page, "!document.querySelector('[data-testid=train]').disabled")  # the step is done

    # keyboard: Train is focusable and Enter starts a run; then pause and resume
    page.click("[data-testid=advanced] summary")
    page.fill("[data-testid=steps]", "3000")
    page.focus("[data-testid=train]")
    page.keyboard.press("Enter")
    wait_for(page, "document.querySelector('[data-testid=train]').disabled")
    assert page.is_disabled("[data-testid=step-once]")
    assert page.is_enabled("[data-testid=reset]")  # a new run: this one would train on
    page.click("[data-testid=pause]")
    page.locator("[data-testid=resume]").wait_for()
    assert page.inner_text("[data-testid=status]").strip() == "paused"
    paused_at, total = stepline(page)
    assert total == 3000
    page.click("[data-testid=resume]")
    page.locator("[data-testid=pause]").wait_for()
    wait_step_at_least(page, paused_at + 3)
    page.click("[data-testid=pause]")
    page.locator("[data-testid=resume]").wait_for()
    assert global_step(page) > before + 3

    # reset with a seed: a new run, untrained, its chart empty, nearly flat bars again
    trained_run = httpx.get(server.url + "/api/state").json()["id"]
    page.fill("[data-testid=seed]", "7")
    page.click("[data-testid=reset]")
    page.wait_for_url(lambda url: "run=" in url and not url.endswith(f"run={trained_run}"))
    wait_for(
        page, "document.querySelector('[data-testid=status]').textContent.includes('untrained')"
    )
    wait_for(page, "document.querySelector('[data-testid=loss-chart]').dataset.points == 0")
    assert page.locator("[data-testid=recipe-empty]").is_visible()
    assert page.is_enabled("[data-testid=train]")
    assert httpx.get(server.url + "/api/state").json()["seed"] == 7


def test_page_fits_a_phone_and_has_a_dark_scheme(server, open_page, screenshot):
    page, _ = open_page(server.url, width=390, height=844)
    wait_live(page)
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390, f"page is {overflow}px wide at 390px"
    screenshot(page, "mobile")
    dark, _ = open_page(server.url, scheme="dark")
    wait_live(dark)
    bg = dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg != "rgb(244, 245, 247)"  # not the light background
    screenshot(dark, "dark", full_page=False)


def test_every_tab_stays_live_and_recovers_from_a_restart(server, open_page):
    one, watch_one = open_page(server.url)
    two, watch_two = open_page(server.url)
    wait_live(one)
    wait_live(two)

    # a network drop / restart: "reconnecting…", then live again without a reload
    watch_one.allow_console_errors = watch_two.allow_console_errors = True  # failed fetches
    server.stop()
    for page in (one, two):
        wait_for(
            page,
            "document.querySelector('[data-testid=connection]').dataset.conn === 'reconnecting'",
        )
        assert "reconnecting" in page.inner_text("[data-testid=connection]")
    server.start()
    for page in (one, two):
        wait_for(
            page,
            "document.querySelector('[data-testid=connection]').dataset.conn === 'live'",
            timeout=30_000,
        )

    start, _ = stepline(one)
    r = httpx.post(server.url + "/api/train", json={"steps": 40}, timeout=30)
    assert r.status_code == 200, r.text
    for page in (one, two):
        wait_step_at_least(page, 40)
        wait_for(page, "!document.querySelector('[data-testid=train]').disabled")
        assert stepline(page) == (40, 40)


def test_a_page_refused_its_stream_waits_and_goes_live_when_one_frees(server_factory, open_page):
    """A server that holds as many event streams as it may (here ``MICROGPT_MAX_STREAMS=1``,
    held by another client; a low ``ulimit -n`` does the same) refuses the page's stream: the
    page says "reconnecting…" and goes live by itself once the other stream closes."""
    full = server_factory(MICROGPT_MAX_STREAMS="1")
    with httpx.stream("GET", full.url + "/api/events", timeout=30) as held:
        assert held.status_code == 200
        page, watch = open_page(full.url)
        watch.allow_console_errors = True  # the browser logs the refused request
        wait_for(
            page,
            "document.querySelector('[data-testid=connection]').dataset.conn === 'reconnecting'",
        )
        assert "reconnecting" in page.inner_text("[data-testid=connection]")
    wait_live(page)
    r = httpx.post(full.url + "/api/train", json={"steps": 5}, timeout=30)
    assert r.status_code == 200, r.text
    wait_step_at_least(page, 5)
    full.stop()
