"""Accessibility in a real browser: an axe-core audit (axe-playwright-python, which bundles
axe-core and injects it into the page: no request leaves 127.0.0.1) before, during and after a
run, in the light scheme at desktop width and the dark scheme at phone width; and the keyboard
path through every control, each with a visible focus ring.

Violations of impact "serious" or "critical" fail the test; the others are printed (run with
``-s`` to see them). A fresh run of its own on the shared server serves this module.
"""

import httpx
import pytest

from tests.browser.conftest import wait_for

Axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe

BLOCKING = {"serious", "critical"}


def wait_live(page) -> None:
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")


def describe(violation: dict) -> str:
    nodes = "; ".join(
        f"{' '.join(map(str, n['target']))}: {n.get('failureSummary', '').splitlines()[-1]}"
        for n in violation["nodes"][:5]
    )
    return f"[{violation['impact']}] {violation['id']} ({violation['help']}): {nodes}"


def audit(page, when: str) -> None:
    """Run axe on the whole page; fail on serious/critical violations, print the rest."""
    violations = Axe().run(page).response["violations"]
    for v in violations:
        print(f"axe {when}: {describe(v)}")
    blocking = [describe(v) for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"axe {when}:\n" + "\n".join(blocking)


def open_details(page) -> None:
    """Open the disclosures so that axe checks what is inside them too."""
    for testid in ("advanced", "model-file"):
        page.eval_on_selector(f"[data-testid={testid}]", "d => { d.open = true; }")


def fill_prefix_and_samples(page) -> None:
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", "em", delay=20)
    wait_for(
        page,
        "document.querySelector('#predict [data-testid=top5-title]').textContent.includes('“em”')",
    )
    page.click("[data-testid=generate]")
    page.locator("[data-testid=sample-list] li").first.wait_for()


def test_axe_finds_nothing_serious_before_during_and_after_a_run(server, open_page):
    light, _ = open_page(server.url)
    dark, _ = open_page(server.url, width=390, height=844, scheme="dark")
    pages = {"light 1280px": light, "dark 390px": dark}
    for page in pages.values():
        wait_live(page)
        open_details(page)
        fill_prefix_and_samples(page)
    for name, page in pages.items():
        audit(page, f"before training, {name}")

    # during: slowed down so the run is still going while axe looks
    assert server.post("/api/pace", {"steps_per_sec": 10}).status_code == 200
    # long enough that the run is still going after two audits of a page this size (~4 s each)
    assert server.post("/api/train", {"steps": 300}).status_code == 200
    for page in pages.values():
        wait_for(page, "document.querySelector('[data-testid=loss-chart]').dataset.points >= 10")
        page.locator("[data-testid=recipe-steps]").wait_for()
    for name, page in pages.items():
        audit(page, f"during a run, {name}")
    assert server.state()["status"] == "training"

    # after: the summary, the recipe, the chart, the prefix panel and samples all filled
    assert server.post("/api/pace", {"steps_per_sec": None}).status_code == 200
    # the rest of the run at full speed: a few seconds, or a minute on a machine shared with
    # other jobs (the audits are what this test is about, not the speed)
    server.wait_for_state(lambda s: s["status"] == "idle", timeout=120)
    for page in pages.values():
        page.locator("[data-testid=run-summary]").wait_for(timeout=30_000)
        fill_prefix_and_samples(page)
    # the chart says in words what it shows (its canvas is described by this text)
    canvas = light.locator("#loss-chart canvas")
    assert canvas.get_attribute("role") == "img"
    assert canvas.get_attribute("aria-describedby") == "loss-desc"
    wait_for(light, "document.getElementById('loss-desc').textContent.includes('at step 300')")
    assert "uniform guess over 27 tokens scores 3.30" in light.inner_text("#loss-desc")
    for name, page in pages.items():
        audit(page, f"after a run, {name}")


FOCUS_RING = """el => {
    const cs = getComputedStyle(el);
    return {
        focusVisible: el.matches(':focus-visible'),
        style: cs.outlineStyle,
        width: parseFloat(cs.outlineWidth) || 0,
        color: cs.outlineColor,
    };
}"""

DESCRIBE_ACTIVE = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return 'body';
    if (el.tagName === 'SUMMARY') return el.parentElement.dataset.testid + ' summary';
    if (el.matches('a.term')) return 'term ' + el.hash;
    return el.dataset.testid || el.id || el.tagName.toLowerCase();
}"""


def tab_order(page, limit: int = 160) -> list[str]:
    """Press Tab from the top of the page until focus leaves the page; check each stop's ring.
    The words linked to the glossary (a.term, in the panels' text) are stops too, checked for
    their ring and left out of the order of the controls."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.click("h1")  # the sequential focus navigation starting point: the top of the page
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        name = page.evaluate(DESCRIBE_ACTIVE)
        ring = page.evaluate_handle("document.activeElement").evaluate(FOCUS_RING)
        if seen and name == seen[-1] and name in REPEATED:
            continue  # one more of a row of like buttons: the row is one entry
        if name.startswith("term "):
            assert ring["focusVisible"] and ring["width"] >= 2, f"{name}: no focus ring {ring}"
            continue
        if name == "body" or name in seen:
            break
        assert ring["focusVisible"], f"{name}: not :focus-visible after Tab"
        assert ring["style"] != "none" and ring["width"] >= 2, f"{name}: no focus ring {ring}"
        seen.append(name)
    return seen


# the small multiples: one button per moment of the history (1 to 5, as the model has trained)
REPEATED = {"multiple", "milestone"}  # and what happened: one per milestone


def test_tab_reaches_every_control_in_order_with_a_visible_focus_ring(server, open_page):
    page, _ = open_page(server.url)
    wait_live(page)
    wait_for(page, "!document.querySelector('[data-testid=train]').disabled")

    # closed disclosures: their summaries are stops, their contents are not
    assert tab_order(page) == [
        "runs-menu summary",  # the run bar: which run, every run, a new one, rename/delete
        "new-run summary",
        "compare-link",
        "teach-class",  # the ways into a class
        "join-class",
        "manage-run summary",
        "train",
        "step-once",  # Pause is disabled while idle: skipped
        "reset",
        "pace",
        "seed",
        "advanced summary",
        "model-file summary",
        "walk-prev",  # the recipe, right after the Train card: its walk, at one's own pace
        "walk-next",
        "walk-play",
        "walk-pace",
        "walk-back",
        "timeline",  # under the loss chart: see the model at any step
        "milestone",  # the time travel card: what happened, one per milestone
        "multiple",  # and one per moment of the history
        "probe-char",
        "prefix",  # "Ask the model" comes right after them
        "lens-value",  # the lens radio group: one stop, arrows move within it
        "per-matrix",
        "pick-name",  # follow a parameter without a mouse
        "pick-row",
        "pick-col",
        "pick-follow",
        "graph summary",  # the graph of one step: closed, nothing loaded until opened
        "temperature",
        "generate",
    ]

    # open both from the keyboard: their fields join the order where they appear
    page.focus("[data-testid=advanced] summary")
    page.keyboard.press("Enter")
    page.focus("[data-testid=model-file] summary")
    page.keyboard.press("Enter")
    assert tab_order(page) == [
        "runs-menu summary",  # the run bar: which run, every run, a new one, rename/delete
        "new-run summary",
        "compare-link",
        "teach-class",  # the ways into a class
        "join-class",
        "manage-run summary",
        "train",
        "step-once",
        "reset",
        "pace",
        "seed",
        "advanced summary",
        "steps",
        "lr",
        "model-file summary",
        "download",
        "checkpoint-file",
        "upload",
        "walk-prev",
        "walk-next",
        "walk-play",
        "walk-pace",
        "walk-back",
        "timeline",
        "milestone",
        "multiple",
        "probe-char",
        "prefix",
        "lens-value",
        "per-matrix",
        "pick-name",
        "pick-row",
        "pick-col",
        "pick-follow",
        "graph summary",
        "temperature",
        "generate",
    ]

    # and the keyboard drives it: Space on "Step once" takes a step
    before = httpx.get(server.url + "/api/state").json()["step"]
    page.focus("[data-testid=step-once]")
    page.keyboard.press("Space")
    wait_for(
        page,
        "n => document.querySelector('[data-testid=global-step]').textContent.trim() === n",
        arg=str(before + 1),
    )
