"""Accessibility in a real browser: an axe-core audit (axe-playwright-python, which bundles
axe-core and injects it into the page: no request leaves 127.0.0.1) before a run (light, at
desktop width), during it (dark, at phone width) and after it (both, with the tour on and the
charts' tables open), then of the teacher's view and the compare page, light and dark
(the scheme emulated on the same page); the heatmaps' colours against the card (3:1) and the
recipe's gradient map in both schemes; the keyboard path through every control, each with a
visible focus ring, and through the heatmaps' cells.

Violations of impact "serious" or "critical" fail the test; the others are printed (run with
``-s`` to see them). A fresh run of its own on the shared server serves this module.
"""

import httpx
import pytest

from tests.browser.conftest import generate_samples, wait_for

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


def open_details(page, *testids: str) -> None:
    """Open the disclosures so that axe checks what is inside them too."""
    for testid in testids or ("advanced", "model-file"):
        page.eval_on_selector(f"[data-testid={testid}]", "d => { d.open = true; }")


def fill_prefix_and_samples(page) -> None:
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", "em", delay=20)
    wait_for(
        page,
        "document.querySelector('#predict [data-testid=top5-title]').textContent.includes('“em”')",
    )
    generate_samples(page)


def test_axe_finds_nothing_serious_before_during_and_after_a_run(server, open_page):
    light, _ = open_page(server.url)
    dark, _ = open_page(server.url, width=390, height=844, scheme="dark")
    pages = {"light 1280px": light, "dark 390px": dark}
    for page in pages.values():
        wait_live(page)
        open_details(page)
        fill_prefix_and_samples(page)
    # each audit costs seconds of CPU: the untrained page in the light scheme, the page of a
    # run going in the dark one (a phone's), both when the run is over (the most on them)
    audit(light, "before training, light 1280px")

    # during: slowed down so the run is still going while axe looks
    assert server.post("/api/pace", {"steps_per_sec": 10}).status_code == 200
    # long enough that the run is still going after an audit of a page this size (~4 s; 15 s)
    assert server.post("/api/train", {"steps": 150}).status_code == 200
    for page in pages.values():
        wait_for(page, "document.querySelector('[data-testid=loss-chart]').dataset.points >= 10")
        page.locator("[data-testid=recipe-steps]").wait_for()
    audit(dark, "during a run, dark 390px")
    assert server.state()["status"] == "training"

    # after: the summary, the recipe, the chart, the prefix panel and samples all filled
    assert server.post("/api/pace", {"steps_per_sec": None}).status_code == 200
    # the rest of the run at full speed: a few seconds, or a minute on a machine shared with
    # other jobs (the audits are what this test is about, not the speed)
    server.wait_for_state(lambda s: s["status"] == "idle", timeout=120)
    for page in pages.values():
        page.locator("[data-testid=run-summary]").wait_for(timeout=30_000)
        fill_prefix_and_samples(page)
        # the charts' tables shown, the Help menu open, and the tour offered on a first visit
        # taken (its box joins the page: in the masthead, then in the "e" card)
        page.click("[data-testid=loss-table-toggle]")
        page.click("[data-testid=probe-table-toggle]")
        open_details(page, "help-menu")
        page.click("[data-testid=tour-start]")
        page.locator("#loss-table table").wait_for()
    dark.click("[data-testid=tour-next]")
    # the tables say what the drawings show: the loss from the first step to the newest, and
    # every character's probability (the top 5's among them)
    steps = light.eval_on_selector_all("#loss-table tbody th", "hs => hs.map((h) => h.textContent)")
    assert len(steps) <= 21 and steps[0] == "1" and steps[-1] == f"{server.state()['step']:,}"
    probe = dict(
        light.eval_on_selector_all(
            "#probe-table tbody tr",
            "rs => rs.map((r) => [r.cells[0].textContent, r.cells[1].textContent])",
        )
    )
    assert len(probe) == len(server.state()["vocab"])
    top = light.locator("#dist [data-testid=top5] li").first
    assert probe[top.locator(".ch").inner_text()] == top.locator(".pct").inner_text()
    # the chart says in words what it shows (its canvas is described by this text)
    canvas = light.locator("#loss-chart canvas")
    assert canvas.get_attribute("role") == "img"
    assert canvas.get_attribute("aria-describedby") == "loss-desc"
    wait_for(light, "document.getElementById('loss-desc').textContent.includes('at step 150')")
    assert "uniform guess over 27 tokens scores 3.30" in light.inner_text("#loss-desc")
    for name, page in pages.items():
        audit(page, f"after a run, {name}")
        # the heatmaps' colours that carry meaning (the ends of the scale, "no value") stand
        # 3:1 against the card, and the cells drawn reach them; the recipe's gradient map shows
        # colour, not the card's own, in the dark scheme as in the light
        for var in ("--heat-neg", "--heat-pos", "--heat-none"):
            assert page.evaluate(CONTRAST_OF_VAR, var) >= 3, f"{name}: {var}"
        assert page.evaluate(CANVAS_CONTRAST, "#params-grid canvas")["max"] >= 3, name
        recipe_map = page.evaluate(CANVAS_CONTRAST, "#recipe canvas[id^=recipe-map]")
        assert recipe_map["share"] >= 0.01, f"{name}: the recipe's map is nearly blank {recipe_map}"


# WCAG's contrast ratio of two colours; a theme colour (a CSS variable) against the card
LUMINANCE = """
  const card = (name) => {
    const probe = document.createElement('span');
    probe.style.color = getComputedStyle(document.documentElement).getPropertyValue(name);
    document.body.append(probe);
    const rgb = getComputedStyle(probe).color.match(/\\d+/g).slice(0, 3).map(Number);
    probe.remove();
    return rgb;
  };
  const lum = (rgb) => {
    const f = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
"""
CONTRAST_OF_VAR = f"(name) => {{ {LUMINANCE} return ratio(card(name), card('--card')); }}"
# the canvases' pixels against the card: the highest ratio, the share at 3:1 or more
CANVAS_CONTRAST = f"""(sel) => {{ {LUMINANCE}
  const bg = card('--card');
  let n = 0, above = 0, max = 0;
  for (const c of document.querySelectorAll(sel)) {{
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let p = 0; p < d.length; p += 4) {{
      const r = ratio([d[p], d[p + 1], d[p + 2]], bg);
      n += 1;
      if (r >= 3) above += 1;
      if (r > max) max = r;
    }}
  }}
  return {{n, share: n ? above / n : 0, max}};
}}"""

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
        "tour-start",  # a first visit: the guided tour, offered
        "tour-dismiss",
        "runs-menu summary",  # the run bar: which run, every run, a new one, rename/delete
        "new-run summary",
        "compare-link",
        "teach-class",  # the ways into a class
        "join-class",
        "manage-run summary",
        "help-menu summary",  # the tour again, the glossary
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
        "loss-table-toggle",  # the chart's numbers as a table, in its header
        "timeline",  # under the loss chart: see the model at any step
        "probe-table-toggle",  # the "e" card's numbers as a table
        "milestone",  # the time travel card: what happened, one per milestone
        "multiple",  # and one per moment of the history
        "probe-char",
        "prefix",  # "Ask the model" comes right after them
        "lens-value",  # the lens radio group: one stop, arrows move within it
        "per-matrix",
        "matrix-wte",  # the heatmaps: one stop, arrows move from cell to cell
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
        "tour-start",  # a first visit: the guided tour, offered
        "tour-dismiss",
        "runs-menu summary",  # the run bar: which run, every run, a new one, rename/delete
        "new-run summary",
        "compare-link",
        "teach-class",  # the ways into a class
        "join-class",
        "manage-run summary",
        "help-menu summary",  # the tour again, the glossary
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
        "loss-table-toggle",
        "timeline",
        "probe-table-toggle",
        "milestone",
        "multiple",
        "probe-char",
        "prefix",
        "lens-value",
        "per-matrix",
        "matrix-wte",
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

    # the heatmaps from the keyboard alone: Tab reaches them once, the arrows walk the cells
    # (on to the next matrix at an edge), each cell's name and numbers said; Enter follows it
    vocab = server.state()["vocab"]
    said = "document.querySelector('[data-testid=params-cell]').textContent"
    page.focus("[data-testid=per-matrix]")
    page.keyboard.press("Tab")
    assert page.evaluate(DESCRIBE_ACTIVE) == "matrix-wte"
    wait_for(page, f"{said}.startsWith('wte, row 0 (‘{vocab[0]}’), column 0: wte[0][0]  value ')")
    assert "gradient" in page.evaluate(said) and "√v" in page.evaluate(said)
    assert page.locator("[data-testid=params-tip]").is_visible()
    walk = [
        ("ArrowRight", "matrix-wte", f"wte, row 0 (‘{vocab[0]}’), column 1: wte[0][1] "),
        ("ArrowDown", "matrix-wte", f"wte, row 1 (‘{vocab[1]}’), column 1: wte[1][1] "),
        ("End", "matrix-wte", f"wte, row 1 (‘{vocab[1]}’), column 15: wte[1][15] "),
        ("ArrowRight", "matrix-wpe", "wpe, row 1 (position 1), column 0: wpe[1][0] "),
        ("ArrowLeft", "matrix-wte", f"wte, row 1 (‘{vocab[1]}’), column 15: wte[1][15] "),
        ("PageDown", "matrix-wpe", "wpe, row 1 (position 1), column 15: wpe[1][15] "),
        ("PageDown", "matrix-lm_head", f"lm_head, row 1 (‘{vocab[1]}’), column 15: lm_head[1][15]"),
        ("Home", "matrix-lm_head", f"lm_head, row 1 (‘{vocab[1]}’), column 0: lm_head[1][0] "),
    ]
    for key, canvas, words in walk:
        page.keyboard.press(key)
        assert page.evaluate(DESCRIBE_ACTIVE) == canvas, key
        assert page.evaluate(said).startswith(words), (key, page.evaluate(said))
    # roving: the matrix with the cell is the one Tab stop of them all
    stops = page.eval_on_selector_all(
        "#params-grid canvas",
        "cs => cs.filter((c) => c.tabIndex === 0).map((c) => c.dataset.testid)",
    )
    assert stops == ["matrix-lm_head"]
    page.keyboard.press("Enter")
    wait_for(page, "document.getElementById('focus-name').textContent === 'lm_head[1][0]'")
    page.focus("[data-testid=matrix-lm_head]")
    page.keyboard.press("Tab")
    assert page.evaluate(DESCRIBE_ACTIVE) == "pick-name"


def test_axe_finds_nothing_serious_on_the_teachers_view_and_the_compare_page(server, open_page):
    """Light, then dark on the same page (the scheme emulated, not a second load); the
    compare page opened in the same tab."""
    made = server.post("/api/classes", {"name": "Axe 1"})
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    assert server.post(f"/api/classes/{code}/join", {"name": "Ada"}).status_code == 201
    page, _ = open_page(made.json()["teacher_url"])  # this browser becomes its teacher
    page.click("[data-testid=spotlight]")  # a student's row in the spotlight: its tint
    page.locator("[data-testid=spotlit]").wait_for()
    audit_both_schemes(page, "teacher's view")
    page.goto(server.url + "/compare")
    page.locator("#compare-chart canvas").first.wait_for()
    audit_both_schemes(page, "compare page")


def audit_both_schemes(page, name: str) -> None:
    page.emulate_media(color_scheme="light")
    audit(page, f"{name}, light")
    page.emulate_media(color_scheme="dark")
    audit(page, f"{name}, dark")
