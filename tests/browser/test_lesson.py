"""The lesson at 1280×800 and 390×844: Step once brings the recipe on screen and holds its
walk at phase 0 until Next phase; Next/Previous and → / ← move one phase; each phase says what
happened in words with that step's own numbers (checked against /api/history, /api/params);
the glossary is in the page as served and every term is reachable by keyboard from the panels;
the milestones list and chart marks take the page to their step; the Train card's epoch line;
no sideways scroll.

One server (fresh data dir, 60 steps trained first) serves this module.
Screenshots: artifacts/screenshots/lesson-{1280,390}-{light,dark}.png, lesson-milestones.png.
"""

import math
import re

import httpx
import pytest

from app.lesson.glossary import GLOSSARY
from tests.browser.conftest import wait_for

LIVE = "document.querySelector('[data-testid=connection]').dataset.conn === 'live'"
AT = "document.querySelector('#recipe .recipe')?.dataset.at"
SAY = "#recipe [data-testid=recipe-say]"
# the element's box lies within the window (to a pixel: a scroll lands on fractions)
IN_VIEW = """(sel) => {
  const r = document.querySelector(sel)?.getBoundingClientRect();
  return !!r && r.top >= -1 && r.bottom <= innerHeight + 1 && r.left >= 0
    && r.right <= innerWidth;
}"""
NO_SIDEWAYS = "document.scrollingElement.scrollWidth <= innerWidth"


@pytest.fixture(scope="module")
def trained(server):
    return server.train(60)


def step_once(server, page) -> int:
    """Press Step once; the new step's recipe is on screen (its walk held at phase 0)."""
    step = server.state()["step"] + 1
    page.click("[data-testid=step-once]")
    wait_for(page, f"document.querySelector('#recipe .recipe')?.dataset.step === '{step}'")
    return step


def said(page) -> str:
    return page.inner_text(SAY).strip()


def biggest_push(server, step: int) -> str:
    """The parameter with the largest |gradient| at ``step``, named as the page names it."""
    params = server.get("/api/params", params={"step": step}).json()
    vocab = server.state()["vocab"]
    best = max(
        (abs(g), m["name"], r, c)
        for m in params["matrices"]
        for r, row in enumerate(m["grad"])
        for c, g in enumerate(row)
    )
    _, name, r, c = best
    row = vocab[r] if name in ("wte", "lm_head") else str(r)
    return f"{name}[{row}][{c}]"


@pytest.mark.parametrize(("width", "height", "scheme"), [(1280, 800, "light"), (390, 844, "dark")])
def test_step_once_brings_the_recipe_on_screen_and_walks_it_at_the_learner_s_pace(
    trained, open_page, screenshot, width, height, scheme
):
    server = trained
    page, _ = open_page(server.url, width=width, height=height, scheme=scheme)
    wait_for(page, LIVE)
    step = step_once(server, page)

    # on screen: the walk's buttons and its sentence, without scrolling sideways
    wait_for(page, IN_VIEW, "#recipe [data-testid=walk-next]")
    wait_for(page, IN_VIEW, SAY)
    assert page.evaluate(NO_SIDEWAYS)

    # held at phase 0 (sample) once everything of the step has arrived, and well after
    wait_for(page, "document.querySelector('#recipe [data-push]')?.textContent !== '…'")
    assert page.evaluate(AT) == "0"
    page.wait_for_timeout(1600)  # longer than a phase of any walk that plays by itself
    assert page.evaluate(AT) == "0"
    assert said(page).startswith("Sample:")

    # the buttons, by their accessible names, and the keys while the recipe has focus
    nxt = page.get_by_role("button", name=re.compile(r"^Next phase")).first
    prev = page.get_by_role("button", name=re.compile(r"^Previous phase")).first
    assert prev.is_disabled()  # nothing before sample
    nxt.click()
    assert page.evaluate(AT) == "1"
    prev.click()
    assert page.evaluate(AT) == "0"
    page.focus("#recipe .recipe")
    page.keyboard.press("ArrowRight")
    assert page.evaluate(AT) == "1"
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(AT) == "0"

    # each phase in its own words, with this step's numbers
    sentences = [said(page)]
    for k in range(1, 6):
        page.keyboard.press("ArrowRight")
        assert page.evaluate(AT) == str(k)
        sentences.append(said(page))
        if k == 3:
            screenshot(page, f"lesson-{width}-{scheme}", full_page=False)
    assert len(set(sentences)) == 6, sentences
    sample, forward, loss, backward, update, whole = sentences
    doc = page.inner_text("#recipe [data-testid=recipe-doc]")
    assert sample.startswith("Sample:") and f"“{doc}”" in sample and f"step {step}" in sample
    assert forward.startswith("Forward:")
    history = server.get("/api/history").json()["points"]
    mean = next(p["loss"] for p in history if p["step"] == step)
    assert loss.startswith("Loss:") and f": {mean:.2f}." in loss
    # one position's −ln p, worked out: −ln p = its loss, as printed under the token
    p, nll = re.search(r"−ln ([0-9.e-]+) = (\d+\.\d\d)", loss).groups()
    assert abs(-math.log(float(p)) - float(nll)) < 0.006
    nlls = page.eval_on_selector_all("#recipe .tok.pred .nll", "els => els.map(e => e.textContent)")
    assert nll in nlls
    assert backward.startswith("Backward:") and f"on {biggest_push(server, step)} " in backward
    assert update.startswith("Update:") and whole.startswith(f"Step {step} in one go")
    assert f"{mean:.2f}" in whole

    # the training loop beside the walk, with the run's num_steps
    code = page.inner_text("#recipe [data-testid=recipe-code]")
    assert "for step in range(num_steps):" in code
    assert f"num_steps = {server.state()['steps']}" in code

    # back to the controls, on request
    page.click("#recipe [data-testid=walk-back]")
    wait_for(page, IN_VIEW, "[data-testid=step-once]")
    assert page.evaluate(NO_SIDEWAYS)


@pytest.mark.parametrize(("width", "height", "scheme"), [(1280, 800, "dark"), (390, 844, "light")])
def test_the_walk_reads_in_the_other_scheme(trained, open_page, screenshot, width, height, scheme):
    server = trained
    page, _ = open_page(server.url, width=width, height=height, scheme=scheme)
    wait_for(page, LIVE)
    step_once(server, page)
    wait_for(page, IN_VIEW, SAY)
    for _ in range(3):
        page.click("#recipe [data-testid=walk-next]")
    assert page.evaluate(AT) == "3"
    wait_for(page, "document.querySelector('#recipe [data-push]')?.textContent !== '…'")
    assert page.evaluate(NO_SIDEWAYS)
    screenshot(page, f"lesson-{width}-{scheme}", full_page=False)


def test_a_past_step_is_walked_the_same_way(trained, open_page):
    server = trained
    page, _ = open_page(f"{server.url}/?step=30")
    wait_for(page, "document.querySelector('#recipe-view .recipe')?.dataset.at === '5'")
    page.click("#recipe-view [data-testid=walk-next]")  # from the whole step: from the start
    assert page.evaluate("document.querySelector('#recipe-view .recipe').dataset.at") == "0"
    page.focus("#recipe-view .recipe")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.querySelector('#recipe-view .recipe').dataset.at") == "1"
    text = page.inner_text("#recipe-view [data-testid=recipe-say]")
    assert text.startswith("Forward:")


def test_the_glossary_is_served_and_every_term_is_reachable_by_keyboard(trained, open_page):
    server = trained
    html = httpx.get(server.url + "/").text
    assert 'data-testid="glossary"' in html
    for t in GLOSSARY:
        assert f'id="term-{t.slug}"' in html  # in the page as served: search, screen readers
        assert t.text.replace("'", "&#39;") in html or t.text in html

    page, _ = open_page(server.url, width=390, height=844)
    wait_for(page, LIVE)
    # every term is linked from a panel that uses it (outside the glossary itself)
    linked = page.eval_on_selector_all(
        "main .card:not(#glossary) a.term", "els => [...new Set(els.map(e => e.hash))]"
    )
    assert sorted(linked) == sorted(f"#term-{t.slug}" for t in GLOSSARY)

    # Tab reaches the terms; focus shows the definition; Enter goes to the glossary's entry
    page.focus("[data-testid=step-once]")
    seen = set()
    for _ in range(200):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const a = document.activeElement; if (!a.matches('a.term')) return null;"
            " const tip = a.querySelector('.term-tip');"
            " return {hash: a.hash, tip: getComputedStyle(tip).display,"
            " described: a.getAttribute('aria-describedby')}; })()"
        )
        if focused:
            assert focused["tip"] != "none"  # its definition, on focus
            assert focused["described"] == "def-" + focused["hash"].removeprefix("#term-")
            seen.add(focused["hash"])
        if seen >= {"#term-epoch", "#term-loss", "#term-backward"}:
            break
    assert {"#term-epoch", "#term-loss", "#term-backward"} <= seen, seen
    page.focus("main .card-train a.term[href='#term-epoch']")
    page.keyboard.press("Enter")
    wait_for(page, "location.hash === '#term-epoch'")
    wait_for(page, IN_VIEW, "#term-epoch")
    assert page.evaluate(NO_SIDEWAYS)


def test_milestones_are_listed_and_marked_and_take_the_page_to_their_step(
    trained, open_page, screenshot
):
    server = trained
    expected = server.get("/api/milestones").json()["milestones"]
    assert expected
    page, _ = open_page(server.url, width=1280, height=800)
    wait_for(page, LIVE)
    wait_for(page, f"document.getElementById('loss-chart').dataset.marks === '{len(expected)}'")
    buttons = page.locator("[data-testid=milestone]")
    assert buttons.count() >= 1
    first = buttons.first
    step = first.get_attribute("data-step")
    assert step in {str(m["step"]) for m in expected}
    screenshot(page.locator(".card-history"), "lesson-milestones")
    first.click()
    wait_for(page, f"document.documentElement.dataset.view === '{step}'")

    # the Train card's epoch line: the steps as a share of one epoch, on a phone too
    phone, _ = open_page(server.url, width=390, height=844)
    wait_for(phone, LIVE)
    text = phone.inner_text("[data-testid=epoch]")
    steps = server.state()["step"]
    share = 100 * steps / 28_829
    assert f"{steps} steps · {share:.2g}% of one epoch over 28,829 names" in text
    assert phone.locator("[data-testid=epoch]").is_visible()
