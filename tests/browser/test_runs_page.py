"""Runs on the page: the run bar creates a run of another shape (its size and time shown
first), switches between runs, renames one and deletes one after asking; every panel follows
the run the page shows, and another tab hears when a run is made from the one it shows.

One server (fresh data dir) serves this module; the tests run in file order and build on each
other's runs. Screenshots: artifacts/screenshots/runs-{form,list}.png.
"""

import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from engine.data import load_example
from tests.browser.conftest import wait_for

V = 27  # the names' vocabulary: 26 letters and BOS


@pytest.fixture(scope="module")
def server(own_server):
    """A server of this module's own: the tests list, switch to and delete run 1 and every run."""
    return own_server


def textbook_params(n_embd: int, n_layer: int, block_size: int, V: int = V) -> int:
    """microgpt's parameter count, from its matrices (an oracle independent of the engine):
    token and position embeddings, per layer 4 attention matrices e×e and the MLP's e×4e and
    4e×e, and the output head."""
    e = n_embd
    return V * e + block_size * e + n_layer * (4 * e * e + 8 * e * e) + V * e


def wait_live(page) -> None:
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")


def run_id_of(page) -> int:
    m = re.search(r"[?&]run=(\d+)", page.url)
    assert m, page.url
    return int(m[1])


def open_menu(page, testid: str) -> None:
    if page.get_attribute(f"[data-testid={testid}]", "open") is None:
        page.click(f"[data-testid={testid}] summary")


def listed(server) -> dict[int, dict]:
    return {r["id"]: r for r in server.get("/api/runs").json()["runs"]}


def test_the_default_run_is_shown_with_its_name_and_the_textbook_size(server, open_page):
    page, _ = open_page(server.url)
    wait_live(page)

    assert page.inner_text("[data-testid=run-title]") == "Run 1"
    assert "4,064 parameters" in page.inner_text("[data-testid=model-facts]")
    assert textbook_params(16, 1, 8) == 4064  # the oracle agrees with the reference figure
    open_menu(page, "runs-menu")
    rows = page.locator("[data-testid=run-row]")
    assert rows.count() == 1
    assert "idle" in rows.first.inner_text() and "16 wide · 4 heads" in rows.first.inner_text()


def test_the_new_run_form_shows_size_and_time_as_the_fields_change(server, open_page, screenshot):
    page, _ = open_page(server.url)
    wait_live(page)
    open_menu(page, "new-run")
    params = page.locator("[data-testid=run-params]")
    assert params.inner_text() == "4,064"

    page.fill("[data-testid=run-n_embd]", "8")
    page.fill("[data-testid=run-n_head]", "2")
    page.fill("[data-testid=run-n_layer]", "2")
    page.fill("[data-testid=run-block_size]", "4")
    expected = f"{textbook_params(8, 2, 4):,}"
    wait_for(
        page, "n => document.querySelector('[data-testid=run-params]')?.textContent === n", expected
    )
    assert "ms a step" in page.inner_text("[data-testid=run-estimate]")

    # a head count that does not divide the width is named, with what is allowed
    page.fill("[data-testid=run-n_head]", "3")
    error = page.locator("[data-testid=run-estimate-error]")
    error.wait_for()
    assert "n_head" in error.inner_text() and "3" in error.inner_text()
    page.fill("[data-testid=run-n_head]", "2")
    params.wait_for()
    screenshot(page, "runs-form", full_page=False)


def test_creating_a_run_opens_it_and_its_panels_follow_its_shape(server, open_page):
    page, _ = open_page(server.url)
    wait_live(page)
    open_menu(page, "new-run")
    page.fill("[data-testid=run-name]", "small and deep")
    page.fill("[data-testid=run-steps]", "20")
    page.fill("[data-testid=run-n_embd]", "8")
    page.fill("[data-testid=run-n_head]", "2")
    page.fill("[data-testid=run-n_layer]", "2")
    page.fill("[data-testid=run-block_size]", "4")

    page.click("[data-testid=run-create]")

    page.wait_for_url(re.compile(r"/\?run=\d+$"))
    wait_live(page)
    new = run_id_of(page)
    assert new != 1
    assert page.inner_text("[data-testid=run-title]") == "small and deep"
    facts = page.inner_text("[data-testid=model-facts]")
    assert f"{textbook_params(8, 2, 4):,} parameters" in facts and "context 4" in facts
    assert "2 layers" in facts and "2 heads" in facts and "embedding 8" in facts
    # the prefix box takes at most block_size - 1 characters of this run's context
    assert page.get_attribute("[data-testid=prefix]", "maxlength") == "3"
    assert "20 steps" in page.inner_text("[data-testid=train]")

    page.click("[data-testid=train]")

    wait_for(
        page,
        "document.querySelector('[data-testid=status]').textContent.includes('20 steps')",
        timeout=30_000,
    )
    runs = listed(server)
    assert runs[new]["step"] == 20 and runs[new]["status"] == "idle"
    assert runs[1]["step"] == 0  # the other run was not touched


def test_the_run_list_switches_the_page_to_another_run(server, open_page, screenshot):
    page, _ = open_page(server.url + "/?run=2")
    wait_live(page)
    open_menu(page, "runs-menu")
    rows = page.locator("[data-testid=run-row]")
    wait_for(page, "document.querySelectorAll('[data-testid=run-row]').length === 2")
    current = page.locator("[data-testid=run-row][aria-current=page]")
    assert "small and deep" in current.inner_text() and "20" in current.inner_text()
    assert "2 layers" in rows.nth(1).inner_text()
    screenshot(page, "runs-list", full_page=False)

    page.click("[data-testid=run-row][data-run='1'] [data-testid=run-link]")

    page.wait_for_url(re.compile(r"/\?run=1$"))
    wait_live(page)
    assert page.inner_text("[data-testid=run-title]") == "Run 1"
    assert "4,064 parameters" in page.inner_text("[data-testid=model-facts]")
    assert "untrained" in page.inner_text("[data-testid=status]")
    assert page.get_attribute("[data-testid=prefix]", "maxlength") == "7"


def test_the_run_list_fits_a_phone_one_short_block_a_run(server, open_page, screenshot):
    page, _ = open_page(server.url, width=390, height=844)
    wait_live(page)
    open_menu(page, "runs-menu")
    page.locator("[data-testid=run-row]").first.wait_for()
    fit = page.evaluate(
        """() => {
            const table = document.querySelector('[data-testid=runs-table]');
            const rows = [...table.querySelectorAll('[data-testid=run-row]')];
            return {
                table: table.getBoundingClientRect().width,
                panel: table.parentElement.clientWidth,
                tallest: Math.max(...rows.map((r) => r.getBoundingClientRect().height)),
                page: document.documentElement.scrollWidth,
            };
        }"""
    )
    # nothing cut, no sideways scroll; a run's shape on a line of its own (as a column it was a
    # word a line: a row ~250 px tall)
    assert fit["table"] <= fit["panel"] and fit["page"] <= 390, fit
    assert fit["tallest"] < 140, fit
    assert "params · lr" in page.locator("[data-testid=run-row]").first.inner_text()
    labels = page.eval_on_selector_all(
        "[data-testid=run-row] td.num",
        "tds => tds.map((td) => getComputedStyle(td, '::before').content)",
    )
    assert labels[:2] == ['"step "', '"loss "'], labels  # the column heads, hidden, said inline
    screenshot(page, "runs-list-390", full_page=False)


def test_the_run_list_is_asked_for_while_it_is_open_and_not_while_closed(server, open_page):
    page, _ = open_page(server.url + "/?run=2")
    wait_live(page)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/ui/runs?" in r.url else None)
    page.wait_for_timeout(2_500)  # longer than the list's 2 s refresh
    assert asked == []  # closed: a page left open asks the server for nothing
    opened = time.monotonic()
    open_menu(page, "runs-menu")
    while not asked and time.monotonic() - opened < 1:  # at once when opened
        page.wait_for_timeout(50)
    assert asked, "opening the list did not ask for it"
    while len(asked) < 2 and time.monotonic() - opened < 5:  # then every 2 s
        page.wait_for_timeout(100)
    assert len(asked) >= 2, asked


def test_renaming_a_run_shows_the_new_name_in_every_tab(server, open_page):
    page, _ = open_page(server.url + "/?run=2")
    other, _ = open_page(server.url + "/?run=2")
    wait_live(page)
    wait_live(other)
    open_menu(page, "manage-run")

    page.fill("[data-testid=rename-input]", "tiny deep one")
    page.click("[data-testid=rename]")

    wait_for(
        page, "document.querySelector('[data-testid=run-manage-msg]').textContent === 'renamed'"
    )
    for tab in (page, other):
        wait_for(
            tab, "document.querySelector('[data-testid=run-title]').textContent === 'tiny deep one'"
        )
    assert listed(server)[2]["name"] == "tiny deep one"


def test_another_tab_hears_of_a_run_made_from_the_one_it_shows(server, open_page):
    page, _ = open_page(server.url + "/?run=1")
    watcher, _ = open_page(server.url + "/?run=1")
    wait_live(page)
    wait_live(watcher)
    before = set(listed(server))

    page.fill("[data-testid=seed]", "7")
    page.click("[data-testid=reset]")

    page.wait_for_url(lambda url: not url.endswith("run=1"))
    (made,) = set(listed(server)) - before
    assert run_id_of(page) == made
    link = watcher.locator("[data-testid=run-news-link]")
    link.wait_for()
    assert link.get_attribute("href") == f"/?run={made}"
    assert watcher.inner_text("[data-testid=run-title]") == "Run 1"  # it still shows run 1
    assert listed(server)[1]["step"] == 0 and listed(server)[made]["seed"] == 7


def test_deleting_a_run_asks_first_then_opens_another_run(server, open_page):
    watcher, _ = open_page(server.url + "/?run=2")  # another tab on the doomed run
    page, _ = open_page(server.url + "/?run=2")
    wait_live(watcher)
    wait_live(page)
    open_menu(page, "manage-run")

    page.click("[data-testid=delete]")
    question = page.locator("[data-testid=delete-question]")
    question.wait_for()
    assert re.sub(r"\s+", " ", question.inner_text()) == (
        "Delete tiny deep one and its 20 trained steps? This cannot be undone."
    )
    page.click("[data-testid=delete-cancel]")
    page.locator("[data-testid=delete]").wait_for()
    assert 2 in listed(server)

    page.click("[data-testid=delete]")
    for _ in range(3):
        # on a busy machine a panel still filling in may move the button between the click's
        # aim and the click: pressed again only while the run is still there and still asked
        page.click("[data-testid=delete-yes]")
        try:
            page.wait_for_url(lambda url: not url.endswith("run=2"), timeout=5_000)
            break
        except PlaywrightTimeout:
            if 2 not in listed(server):  # deleted, slowly: the page has yet to follow
                page.wait_for_url(lambda url: not url.endswith("run=2"))
                break
            assert page.locator("[data-testid=delete-question]").is_visible()
    else:
        raise AssertionError("three presses of Delete left run 2 in place")
    wait_live(page)
    assert 2 not in listed(server)
    assert run_id_of(page) == server.state()["id"]
    # the other tab is told, with the way to a run that exists
    watcher.locator("[data-testid=run-deleted-link]").wait_for()
    assert "tiny deep one was deleted" in watcher.inner_text("[data-testid=run-news]")
    # and stops listening: no reconnecting to a stream that is gone (the fixture fails the test
    # on the console's 404s if it tried)
    assert not watcher.evaluate("document.getElementById('stream').hasAttribute('hx-sse:connect')")
    watcher.wait_for_timeout(3000)
    open_menu(page, "runs-menu")
    assert "tiny deep one" not in page.inner_text("[data-testid=runs-table]")


def test_forking_from_a_viewed_step_opens_a_run_that_goes_on_from_it(server, open_page, screenshot):
    parent = server.stop_all().train(12).state()
    page, _ = open_page(f"{server.url}/?run={parent['id']}&step=6")
    wait_live(page)
    page.locator("[data-testid=fork]").wait_for()

    page.click("[data-testid=fork]")

    page.wait_for_url(lambda url: not url.endswith("step=6"))
    wait_live(page)
    fork = run_id_of(page)
    assert fork != parent["id"]
    link = page.locator("[data-testid=run-parent]")
    assert re.sub(r"\s+", " ", link.inner_text()) == f"forked from {parent['name']} at step 6"
    # the parent's curve up to the fork, lighter, before this run's own steps
    wait_for(page, "document.querySelector('#loss-chart').dataset.parentPoints === '6'")
    assert "before the fork (step 6)" in page.inner_text("#loss-chart .u-legend")
    assert page.get_attribute("#timeline", "min") == "6"

    page.click("[data-testid=advanced] summary")
    page.fill("[data-testid=steps]", "20")
    page.click("[data-testid=train]")
    wait_for(
        page,
        "document.querySelector('[data-testid=status]').textContent.includes('26 steps')",
        timeout=60_000,
    )
    mine = server.get(f"/api/runs/{fork}/history").json()["points"]
    theirs = server.get(f"/api/runs/{parent['id']}/history").json()["points"]
    assert mine[0]["step"] == 7 and mine[0]["loss"] == theirs[6]["loss"]  # step 7 of both
    screenshot(page, "fork", full_page=False)


def test_a_run_on_a_pasted_list_learns_that_list(server, open_page, screenshot):
    server.stop_all()
    page, watch = open_page(server.url)
    watch.allow_console_errors = True  # the form's 422 is logged; only that one may be
    wait_live(page)
    open_menu(page, "new-run")
    assert page.locator("[data-testid=run-text]").is_hidden()  # only for "my own list…"

    page.select_option("[data-testid=run-dataset]", "own")
    page.fill("[data-testid=run-text]", "bob\nanna\n\notto\nbad\u0007bell\n")
    page.fill("[data-testid=run-name]", "palindromes")
    page.click("[data-testid=run-create]")

    # a bad line is named in the form, which keeps what was typed; nothing is created
    error = page.locator("[data-testid=run-form-error]")
    wait_for(page, "document.querySelector('[data-testid=run-form-error]').textContent !== ''")
    assert "line 5" in error.inner_text() and "U+0007" in error.inner_text()
    assert page.input_value("[data-testid=run-name]") == "palindromes"
    assert "otto" in page.input_value("[data-testid=run-text]")
    assert "palindromes" not in [r["name"] for r in listed(server).values()]
    assert all("status of 422" in e for e in watch.console_errors), watch.console_errors

    page.fill("[data-testid=run-text]", "bob\nanna\n\notto\nhannah\n")
    page.fill("[data-testid=run-steps]", "40")
    screenshot(page, "runs-own-data", full_page=False)
    page.click("[data-testid=run-create]")

    page.wait_for_url(re.compile(r"/\?run=\d+$"))
    wait_live(page)
    facts = page.inner_text("[data-testid=model-facts]")
    assert "vocabulary 7" in facts and "dataset 4 documents (its own)" in facts  # abhnot
    assert "1 held out" in facts  # of 4 documents, a tenth rounded up
    assert page.locator("#dist .bar").count() == 7
    page.click("[data-testid=train]")
    wait_for(
        page,
        "document.querySelector('[data-testid=status]').textContent.includes('40 steps')",
        timeout=30_000,
    )
    assert "ln 7" in page.inner_text("#loss-chart .u-legend")
    # its validation line: the held-out document scored where the run started and ended
    wait_for(page, "document.querySelector('#loss-chart').dataset.valPoints === '2'")
    assert "held-out" in page.inner_text("#loss-chart .u-legend")
    assert "held out), the loss at step 40 is" in page.inner_text("#loss-desc")


def test_an_example_dataset_is_one_choice_away_and_its_size_is_shown(server, open_page, screenshot):
    page, _ = open_page(server.url)
    wait_live(page)
    open_menu(page, "new-run")

    page.select_option("[data-testid=run-dataset]", "elements")

    # the letters the elements' names use (no j, no q) and [BOS]
    letters = len(set("".join(load_example("elements"))))
    expected = f"{textbook_params(16, 1, 8, V=letters + 1):,}"
    wait_for(
        page, "n => document.querySelector('[data-testid=run-params]')?.textContent === n", expected
    )
    page.select_option("[data-testid=run-dataset]", "own")
    wait_for(
        page,
        "document.querySelector('[data-testid=run-estimate]').textContent.includes('own chara')",
    )
    page.select_option("[data-testid=run-dataset]", "states")
    page.fill("[data-testid=run-steps]", "60")
    page.click("[data-testid=run-create]")
    page.wait_for_url(re.compile(r"/\?run=\d+$"))
    wait_live(page)
    assert "dataset 50 documents (its own), 5 held out" in page.inner_text(
        "[data-testid=model-facts]"
    )
    assert listed(server)[run_id_of(page)]["dataset"] == "states"
    # it trains, and its held-out line grows with it, live from the stream
    page.click("[data-testid=train]")
    wait_for(page, "Number(document.querySelector('#loss-chart').dataset.valPoints) >= 2")
    wait_for(page, "document.querySelector('#loss-chart').dataset.valPoints === '3'")  # 0 50 60
    screenshot(page.locator("#loss-chart").locator(".."), "held-out")
    history = server.get(f"/api/runs/{run_id_of(page)}/history").json()
    assert [v["step"] for v in history["val"]] == [0, 50, 60]


def test_a_preset_link_opens_the_form_filled_in(server, open_page):
    before = set(listed(server))
    page, _ = open_page(f"{server.url}/runs/new?lr=0.05&n_layer=2&dataset=countries&name=class")
    wait_live(page)

    assert page.get_attribute("[data-testid=new-run]", "open") is not None
    assert page.input_value("[data-testid=run-lr]") == "0.05"
    assert page.input_value("[data-testid=run-n_layer]") == "2"
    assert page.input_value("[data-testid=run-dataset]") == "countries"
    assert page.input_value("[data-testid=run-name]") == "class"
    assert set(listed(server)) == before  # a link creates nothing

    page.click("[data-testid=run-create]")
    page.wait_for_url(re.compile(r"/\?run=\d+$"))
    made = listed(server)[run_id_of(page)]
    assert (made["lr"], made["n_layer"], made["dataset"], made["name"]) == (
        0.05,
        2,
        "countries",
        "class",
    )


def test_two_runs_compared_on_one_chart_name_what_differs(server, open_page, screenshot):
    server.stop_all()
    slow = server.post("/api/runs", {"name": "lr 0.01", "steps": 30}).json()["id"]
    fast = server.post("/api/runs", {"name": "lr 0.05", "lr": 0.05, "steps": 30}).json()["id"]
    for run in (slow, fast):
        assert server.post(f"/api/runs/{run}/train", {}).status_code == 200
    page, _ = open_page(server.url + f"/?run={fast}")
    wait_live(page)

    page.click("[data-testid=compare-link]")

    page.wait_for_url(re.compile(r"/compare$"))
    for box in page.locator("[data-testid=compare-pick]").all():
        box.set_checked(box.get_attribute("value") in (str(slow), str(fast)))
    page.click("[data-testid=compare-show]")
    page.wait_for_url(re.compile(rf"/compare\?runs={slow}&runs={fast}$"))
    rows = page.locator("[data-testid=compare-row]")
    assert rows.count() == 2
    assert [d.inner_text() for d in page.locator("[data-testid=compare-differs]").all()] == [
        "lr 0.01",
        "lr 0.05",
    ]
    assert "seed 42" in page.inner_text("[data-testid=compare-common]")
    # both curves drawn (and redrawn while the runs train)
    wait_for(page, "document.querySelector('#compare-chart').dataset.curves === '2'")
    for run in (slow, fast):
        server.wait_for_state(
            lambda _, run=run: server.get(f"/api/runs/{run}/state").json()["status"] == "idle"
        )
    page.reload()
    wait_for(page, "document.querySelector('#compare-chart').dataset.curves === '2'")
    assert page.locator("#compare-chart canvas").count() == 1
    # each run's held-out loss too (where it started, and at its end), dashed in its colour
    assert page.get_attribute("#compare-chart", "data-val-curves") == "2"
    assert "lr 0.05 held-out" in page.inner_text("#compare-chart .u-legend")
    held = [c.inner_text() for c in page.locator("[data-testid=compare-val]").all()]
    assert all(re.fullmatch(r"\d\.\d{3}", h) for h in held), held
    screenshot(page, "compare", full_page=False)
