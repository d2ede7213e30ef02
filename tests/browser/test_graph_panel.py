"""The graph of one step in a real browser (static/js/graph/, GET /api/graph): nothing fetched
until the card is opened; groups as boxes that expand to their scalar nodes (op, value,
gradient: the API's); backward played group by group (advancing over time, stoppable,
skippable, at once under reduced motion) ending with every parameter box's gradient; the chain
rule at a selected node, its sum equal to the node's gradient; a parameter's paths to the loss
(exactly the groups the API's edges reach from it) and its gradient, /api/params's; the step
the page views, and only on request the newest. Screenshots: artifacts/screenshots/graph-light.png,
graph-dark.png (1280 px) and graph-390.png.

A fresh run on the shared server serves this module; the tests run in file order: the first
sees the model before any step, the ``trained`` fixture then trains 3 steps, the last trains 2 more.
"""

import math
import re
from collections import defaultdict

import pytest

from tests.browser.conftest import press_until, wait_for

RUN = 3
GRAPH_OPEN = "document.querySelector('[data-testid=graph]').open"
REACHED = """() => {
    const boxes = [...document.querySelectorAll('#graph-view [data-group]')];
    return boxes.filter((b) => b.dataset.bp === 'reached').length;
}"""


@pytest.fixture(scope="module")
def trained(server):
    return server.train(RUN)


@pytest.fixture(scope="module")
def graph(trained) -> dict:
    """Step RUN's graph as the API gives it, with each node's consumers."""
    r = trained.get("/api/graph", params={"step": RUN})
    assert r.status_code == 200
    g = r.json()
    g["by_id"] = {n["id"]: n for n in g["nodes"]}
    g["up"] = defaultdict(list)
    for e in g["edges"]:
        g["up"][e["child"]].append(e)
    return g


def graph_requests(page) -> list[str]:
    """Every /api/runs/{id}/graph request the page makes from now on (a list that grows)."""
    seen: list[str] = []
    graph = re.compile(r"/api/runs/\d+/graph\b")
    page.on("request", lambda req: seen.append(req.url) if graph.search(req.url) else None)
    return seen


def open_live(open_page, url: str, **kw):
    page, watch = open_page(url, **kw)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    return page, watch


def open_card(page) -> None:
    """Open the card: it is far down a page whose panels are still filling in (seen: the card
    closed, nothing asked, 45 s later)."""
    press_until(page, "[data-testid=graph] > summary", GRAPH_OPEN, timeout=2_000)


def wait_graph(page, step: int) -> None:
    """A step's graph is megabytes of JSON the server builds in pure Python and the page lays
    out: a second when the machine is quiet, many more while the rest of the suite runs."""
    try:
        wait_for(
            page,
            """(k) => document.querySelector('[data-testid=graph-step]').dataset.step === String(k)
                && document.querySelector('#graph-view [data-group]')""",
            arg=step,
            timeout=45_000,
        )
    except AssertionError as e:
        state = page.evaluate(
            """() => ({
                said: document.querySelector('[data-testid=graph-msg]').textContent,
                open: document.querySelector('[data-testid=graph]').open,
                step: document.querySelector('[data-testid=graph-step]').dataset.step,
                line: document.querySelector('[data-testid=graph-step]').textContent,
                view: document.documentElement.dataset.view,
                groups: document.querySelectorAll('#graph-view [data-group]').length,
                hidden: document.getElementById('graph-view').hidden,
            })"""
        )
        raise AssertionError(f"{e}; the card: {state}") from None


def box(page, group: str):
    return page.locator(f'#graph-view [data-group][data-name="{group}"]')


def texts(locator) -> str:
    """The words an SVG element shows (its <text>s, a line each; SVG has no innerText)."""
    return locator.evaluate(
        "e => [...e.querySelectorAll('text')].map((t) => t.textContent).join('\\n')"
    )


def allow_resource_errors(watch, status: int) -> None:
    """The browser logs a fetch answered with ``status`` as a console error; only those pass."""
    watch.allow_console_errors = True
    bad = [e for e in watch.console_errors if f"status of {status}" not in e]
    assert not bad, f"console errors: {bad}"


def audit_card(page) -> None:
    """axe-core on the open card: no serious or critical violation."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe
    violations = axe().run(page, context="#graph-card").response["violations"]
    serious = [
        f"{v['id']}: {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, serious


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-15)


def test_before_any_step_the_card_says_train_a_step(server, open_page):
    assert server.state()["step"] == 0, "this test runs first, on the untrained model"
    page, watch = open_live(open_page, server.url)
    asked = graph_requests(page)
    open_card(page)
    wait_for(page, "document.querySelector('[data-testid=graph-msg]').dataset.status === '409'")
    assert page.inner_text("[data-testid=graph-msg]") == "Train a step to see its graph."
    assert page.locator("[data-testid=graph-view]").is_hidden()
    assert page.locator("[data-testid=graph-play]").is_disabled()
    assert len(asked) == 1
    allow_resource_errors(watch, 409)


def test_opening_the_card_fetches_the_steps_graph_and_not_before(trained, graph, open_page):
    page, _ = open_live(open_page, trained.url)
    asked = graph_requests(page)
    wait_for(page, "document.querySelector('[data-testid=loss-chart]').dataset.points >= 3")
    page.wait_for_timeout(500)
    assert not page.evaluate(GRAPH_OPEN)
    assert asked == [], "the closed card fetched the graph"

    open_card(page)
    wait_graph(page, RUN)
    assert [u.split("/graph", 1)[1] for u in asked] == [""]  # the newest, once
    line = page.inner_text("[data-testid=graph-step]")
    assert f"step {RUN}" in line and f"“{graph['doc']}”" in line
    assert (
        f"{len(graph['nodes']):,} scalar nodes" in line and f"{len(graph['edges']):,} edges" in line
    )

    # one box per group; a parameter matrix's box says how many of it the step used
    groups = defaultdict(list)
    for n in graph["nodes"]:
        groups[n["group"]].append(n)
    names = page.eval_on_selector_all(
        "#graph-view [data-group]", "els => els.map((e) => e.dataset.name)"
    )
    assert sorted(names) == sorted(groups)
    wte = texts(box(page, "params/wte"))
    assert "wte" in wte and f"{len(groups['params/wte'])} used" in wte
    # the −log p box shows p and −log p, the API's
    xent = groups["pos0/loss"][0]["data"]
    text = texts(box(page, "pos0/loss"))
    shown = float(text.split("−log p ")[-1].split()[0])
    assert abs(shown - xent) <= 0.005 * xent, text
    assert f"p(‘{graph['doc'][0]}’)" in text
    # each box is named for a screen reader, and the drawing has its summary in words
    label = box(page, "pos1/layer0/attn/head2").get_attribute("aria-label")
    assert label.startswith("position 1 layer 0, attention head 2: 8 nodes")
    assert "attention weights" in label
    assert f"learned “{graph['doc']}”" in page.inner_text("[data-testid=graph-summary]")


def test_a_head_expands_to_its_scalar_nodes_by_click_and_keyboard(trained, graph, open_page):
    page, _ = open_live(open_page, trained.url)
    open_card(page)
    wait_graph(page, RUN)

    box(page, "pos2/layer0/attn/head1").click()
    nodes = page.locator("#graph-view [data-band] [data-node]")
    ids = [int(i) for i in nodes.evaluate_all("els => els.map((e) => e.dataset.node)")]
    in_group = [n for n in graph["nodes"] if n["group"] == "pos2/layer0/attn/head1"]
    assert sorted(ids) == [n["id"] for n in in_group]  # 3 scores, 3 softmax weights, 4 outputs
    assert box(page, "pos2/layer0/attn/head1").get_attribute("aria-expanded") == "true"
    for i in ids[:4]:
        el = page.locator(f'#graph-view [data-node="{i}"]')
        node = graph["by_id"][i]
        text = texts(el)
        assert text.startswith(node["op"]) and "\n∂ " in text, text
        assert float(el.get_attribute("data-value")) == node["data"]
        assert float(el.get_attribute("data-grad")) == node["grad"]

    # the keyboard: Enter on a focused box opens it, Space closes it
    head = box(page, "pos3/layer0/attn/head0")
    head.focus()
    page.keyboard.press("Enter")
    wait_for(page, "document.querySelectorAll('#graph-view [data-band]').length === 2")
    assert box(page, "pos3/layer0/attn/head0").get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.activeElement.dataset.name") == "pos3/layer0/attn/head0"
    page.keyboard.press(" ")
    wait_for(page, "document.querySelectorAll('#graph-view [data-band]').length === 1")

    # a large group shows its first nodes and how many more, not all 180
    box(page, "pos0/layer0/mlp").click()
    band = page.locator('#graph-view [data-band][data-name="pos0/layer0/mlp"]')
    assert band.locator("[data-node]").count() == 40
    assert "… 140 more" in texts(band)


def test_play_backward_lights_the_groups_from_the_loss_to_the_parameters(trained, open_page):
    page, _ = open_live(open_page, trained.url, motion=True)
    open_card(page)
    wait_graph(page, RUN)
    total = page.locator("#graph-view [data-group]").count()

    page.click("[data-testid=graph-play]")
    first = wait_for(page, REACHED)  # the loss, then the −log p of every position, …
    assert box(page, "loss").get_attribute("data-bp") == "reached"
    assert box(page, "params/wte").get_attribute("data-bp") == "waiting"
    page.wait_for_timeout(700)
    later = page.evaluate(REACHED)
    assert first < later < total, (first, later, total)  # it advances, and takes its time
    assert "the gradient reaches" in page.inner_text("[data-testid=graph-bp]")

    page.click("[data-testid=graph-stop]")
    stopped = page.evaluate(REACHED)
    page.wait_for_timeout(500)
    assert page.evaluate(REACHED) == stopped
    assert page.inner_text("[data-testid=graph-bp]").startswith("Stopped at")

    page.click("[data-testid=graph-play]")
    page.click("[data-testid=graph-skip]")
    assert page.evaluate(REACHED) == total
    assert page.inner_text("[data-testid=graph-bp]").startswith("Backward done")
    for name in ("params/wte", "params/layer0.attn_wq", "params/lm_head"):
        grad = box(page, name).locator(".gl")
        assert grad.is_visible() and grad.text_content().startswith("‖∂‖ ")
        assert float(grad.text_content().split()[1].replace("−", "-")) > 0


def test_under_reduced_motion_backward_shows_its_end_at_once(trained, open_page):
    page, _ = open_live(open_page, trained.url, motion=True)
    page.emulate_media(reduced_motion="reduce")  # the learner asks for less motion
    open_card(page)
    wait_graph(page, RUN)
    total = page.locator("#graph-view [data-group]").count()
    page.click("[data-testid=graph-play]")
    assert page.evaluate(REACHED) == total
    assert page.locator("[data-testid=graph-stop]").is_disabled()


def test_a_selected_node_shows_the_chain_rule_with_its_numbers(trained, graph, open_page):
    page, _ = open_live(open_page, trained.url)
    open_card(page)
    wait_graph(page, RUN)
    box(page, "pos2/layer0/attn/head1").click()
    softmax = next(
        n for n in graph["nodes"] if n["group"] == "pos2/layer0/attn/head1" and n["op"] == "softmax"
    )
    page.click(f'#graph-view [data-node="{softmax["id"]}"]')

    inspector = page.locator("[data-testid=graph-inspector]")
    assert inspector.is_visible()
    assert f"softmax node #{softmax['id']}" in page.inner_text("#h-graph-inspect")
    uses = graph["up"][softmax["id"]]
    rows = inspector.locator("[data-testid=graph-terms] tbody tr")
    assert rows.count() == len(uses) == 4  # the head's 4 weighted sums read it
    for row, e in zip(rows.all(), uses, strict=True):
        expected = graph["by_id"][e["parent"]]["grad"] * e["local"]
        assert close(float(row.get_attribute("data-term")), expected)
    total = float(inspector.locator("[data-testid=graph-total]").get_attribute("data-total"))
    shown = float(inspector.locator("[data-testid=graph-node-grad]").get_attribute("data-grad"))
    assert shown == softmax["grad"]
    assert abs(total - shown) <= 1e-12 * max(1.0, abs(shown))
    assert inspector.locator("[data-testid=graph-check]").inner_text().startswith("✓")

    # a consumer's button goes to it: its chain rule in turn
    inspector.locator("[data-goto]").first.click()
    parent = uses[0]["parent"]
    wait_for(
        page, f"document.querySelector('[data-testid=graph-inspector]').dataset.node === '{parent}'"
    )
    page.locator("[data-testid=graph-inspect-close]").click()
    assert inspector.is_hidden()


def test_a_parameter_lights_its_paths_and_gives_its_gradient(trained, graph, open_page, screenshot):
    page, _ = open_live(open_page, trained.url, height=1100)
    open_card(page)
    wait_graph(page, RUN)
    box(page, "pos1/layer0/attn/head0").click()
    name = "layer0.attn_wq[3][5]"
    page.fill("[data-testid=graph-param]", name)
    page.click("[data-testid=graph-param-go]")

    inspector = page.locator("[data-testid=graph-inspector]")
    assert page.inner_text("#h-graph-inspect") == f"From {name} to the loss"
    params = trained.get("/api/params", params={"step": RUN}).json()["matrices"]
    wq = next(m for m in params if m["name"] == "layer0.attn_wq")
    total = float(inspector.locator("[data-testid=graph-total]").get_attribute("data-total"))
    assert abs(total - wq["grad"][3][5]) <= 1e-12 * max(1.0, abs(wq["grad"][3][5]))
    assert "Σ over its 7 uses" in inspector.inner_text()  # one q per position

    # the lit groups are exactly those the API's edges reach from it
    start = next(n["id"] for n in graph["nodes"] if n["param"] == name)
    reach, todo = {start}, [start]
    while todo:
        for e in graph["up"][todo.pop()]:
            if e["parent"] not in reach:
                reach.add(e["parent"])
                todo.append(e["parent"])
    expected = {graph["by_id"][i]["group"] for i in reach}
    lit = page.eval_on_selector_all(
        "#graph-view [data-group][data-path=on]", "els => els.map((e) => e.dataset.name)"
    )
    assert set(lit) == expected
    assert "pos4/layer0/attn/head0" in lit and "pos4/layer0/attn/head1" not in lit  # q[3]: head 0
    assert page.locator("#graph-view .glink.param.on").count() == 7  # wq → each position's q
    # as seen: the card's top in the window, the chain rule docked at the window's bottom
    page.locator("#graph-card").evaluate("e => e.scrollIntoView()")
    page.mouse.move(0, 0)
    screenshot(page, "graph-light", full_page=False)
    audit_card(page)

    # a cell followed in the Parameters panel is selected here too
    page.select_option("[data-testid=pick-name]", label="layer0.attn_wk (16×16)")
    page.fill("[data-testid=pick-row]", "1")
    page.fill("[data-testid=pick-col]", "2")
    page.click("[data-testid=pick-follow]")
    assert page.inner_text("#h-graph-inspect") == "From layer0.attn_wk[1][2] to the loss"
    assert page.input_value("[data-testid=graph-param]") == "layer0.attn_wk[1][2]"

    # a parameter the step did not use is named, with why
    page.fill("[data-testid=graph-param]", "wpe[7][0]")
    page.click("[data-testid=graph-param-go]")
    assert "is not in step 3’s graph" in page.inner_text("[data-testid=graph-param-msg]")


def test_the_graph_is_of_the_step_the_page_views(trained, open_page):
    # (the page's own replays of the step finish first: engine/autograd.py's tape is one per
    # process, so two replays at once in the web process's threads can collide)
    page, _ = open_live(open_page, trained.url + "/?step=2")
    wait_for(page, "document.querySelector('[data-testid=params-step]').dataset.step === '2'")
    asked = graph_requests(page)
    open_card(page)
    wait_graph(page, 2)
    assert page.locator("[data-testid=graph-newest]").is_hidden()

    # while open, a change of the viewed step loads that step, once it holds: a drag along the
    # timeline (a change every 150 ms) costs the server one graph, not one per change
    page.evaluate(
        """async () => {
            for (const step of [1, 3, 1]) {
                document.body.dispatchEvent(
                    new CustomEvent('view-change', {bubbles: true, detail: {step}}));
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
        }"""
    )
    wait_graph(page, 1)
    assert [u.split("/graph", 1)[1] for u in asked] == ["?step=2", "?step=1"]

    # closed, it fetches nothing; opened again, it loads what the page shows: live, the newest
    page.click("[data-testid=graph] > summary")
    page.click("[data-back-live]")
    wait_for(page, "document.documentElement.dataset.view === undefined")
    page.wait_for_timeout(300)
    assert [u.split("/graph", 1)[1] for u in asked] == ["?step=2", "?step=1"]
    open_card(page)
    wait_graph(page, RUN)
    assert [u.split("/graph", 1)[1] for u in asked] == ["?step=2", "?step=1", ""]


def test_a_step_outside_the_history_is_named(trained, open_page):
    page, watch = open_live(open_page, trained.url)
    open_card(page)
    wait_graph(page, RUN)
    page.evaluate(
        "document.body.dispatchEvent(new CustomEvent('view-change', "
        "{bubbles: true, detail: {step: 99}}))"
    )
    wait_for(page, "document.querySelector('[data-testid=graph-msg]').dataset.status === '422'")
    assert f"from 0 to {RUN}" in page.inner_text("[data-testid=graph-msg]")
    allow_resource_errors(watch, 422)


def test_the_card_reads_in_dark_and_on_a_phone(trained, open_page, screenshot):
    dark, _ = open_live(open_page, trained.url, scheme="dark", motion=True)  # stopped mid-way
    open_card(dark)
    wait_graph(dark, RUN)
    box(dark, "pos1/layer0/attn/head0").click()
    dark.click("[data-testid=graph-play]")
    wait_for(dark, REACHED)
    dark.wait_for_timeout(900)  # mid-way: the wave is at the heads
    if dark.is_enabled("[data-testid=graph-stop]"):  # a starved page may have played it all
        dark.click("[data-testid=graph-stop]")
    screenshot(dark.locator("#graph-card"), "graph-dark")
    dark.locator("#graph-view [data-node]").first.click()  # the chain rule panel too
    audit_card(dark)

    phone, _ = open_live(open_page, trained.url, width=390, height=844)
    open_card(phone)
    wait_graph(phone, RUN)
    assert phone.locator("#graph-view").get_attribute("data-mode") == "list"
    # one position at a time (listing every position made the card ~6,000 px tall), picked by
    # a row of buttons
    card_height = "document.getElementById('graph-card').getBoundingClientRect().height"
    assert phone.evaluate(card_height) < 2600
    assert box(phone, "pos1/layer0/attn/head0").count() == 0
    assert phone.get_attribute("#graph-view [data-lane='0']", "aria-pressed") == "true"
    phone.click("#graph-view [data-lane='1']")
    assert phone.get_attribute("#graph-view [data-lane='1']", "aria-pressed") == "true"
    box(phone, "pos1/layer0/attn/head0").click()
    assert phone.locator("#graph-view [data-node]").count() == 8
    phone.locator("#graph-view [data-node]").nth(2).click()
    assert phone.locator("[data-testid=graph-inspector]").is_visible()
    assert phone.evaluate(card_height) < 2600
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the page scrolls sideways on a phone: {width}px"
    screenshot(phone, "graph-390", full_page=False)
    audit_card(phone)


def test_while_open_newer_steps_are_offered_not_fetched(trained, open_page):
    page, _ = open_live(open_page, trained.url)
    asked = graph_requests(page)
    open_card(page)
    wait_graph(page, RUN)
    assert trained.post("/api/train", {"steps": 2}).status_code == 200
    trained.wait_idle_at(RUN + 2)
    newest = page.locator("[data-testid=graph-newest]")
    newest.wait_for()
    assert newest.inner_text() == f"Show the newest step ({RUN + 2})"
    assert len(asked) == 1, "the open card fetched a graph per training step"
    newest.click()
    wait_graph(page, RUN + 2)
    assert len(asked) == 2 and newest.is_hidden()
