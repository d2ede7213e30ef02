"""The page's layout, measured with the cards' bounding boxes: at 1400×900 the Train card, the
loss chart and the "e" card are in view together at scroll 0 (before the first step, after it
and after a short run), and the first step moves none of them; at 390 px the cards come in the
order train, recipe, loss, "e", ask, then the rest; at 1280 px the attention cells are large
enough to read, with a colour legend.

A fresh run on the shared server (step 0) serves this module; the tests run in file order.
Screenshots: artifacts/screenshots/layout-1400-{light,dark}.png, layout-390.png.
"""

from tests.browser.conftest import wait_for, wait_stepline

# each card by something only it holds
CARDS = {
    "train": "[data-testid=controls]",
    "loss": "[data-testid=loss-chart]",
    "e": "#dist",
    "ask": "[data-testid=predict]",
    "recipe": "[data-testid=recipe]",
    "params": "#params-card",
    "samples": "[data-testid=samples]",
}
IN_VIEW = ("train", "loss", "e")

BOXES = """(cards) => {
    const boxes = {};
    for (const [name, selector] of Object.entries(cards)) {
        const r = document.querySelector(selector).closest('section').getBoundingClientRect();
        boxes[name] = {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
    }
    return boxes;
}"""


def boxes(page) -> dict[str, dict[str, float]]:
    assert page.evaluate("window.scrollY") == 0
    return page.evaluate(BOXES, CARDS)


def assert_in_view(page, width: int, height: int) -> dict[str, dict[str, float]]:
    measured = boxes(page)
    for name in IN_VIEW:
        box = measured[name]
        assert box["top"] >= 0 and box["bottom"] <= height, f"{name} not in view: {box}"
        assert box["left"] >= 0 and box["right"] <= width, f"{name} not in view: {box}"
    return measured


def open_live(open_page, url: str, **kw):
    page, watch = open_page(url, **kw)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    wait_for(page, "document.querySelector('#loss-chart canvas')")  # the (empty) chart is drawn
    wait_for(page, "!document.querySelector('[data-testid=train]').disabled")
    return page, watch


def settled(page) -> None:
    """Two animation frames: whatever the last swap or chart point changed is laid out."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_train_loss_and_e_are_in_view_together_and_the_first_step_moves_none_of_them(
    server, open_page, screenshot
):
    assert server.state()["step"] == 0
    page, _ = open_live(open_page, server.url, width=1400, height=900)
    settled(page)
    before = assert_in_view(page, 1400, 900)

    page.click("[data-testid=step-once]")
    # the first step's fragments (progress, probe bars) and its chart point have all arrived
    wait_for(page, "document.querySelector('[data-testid=global-step]').textContent.trim() === '1'")
    wait_for(page, "document.querySelector('#loss-chart').dataset.points === '1'")
    wait_for(page, "document.querySelector('#dist .dist').dataset.step === '1'")
    wait_for(page, "document.querySelector('[data-testid=run-summary]')")
    # Step once brought the recipe on screen (its walk is held there): back to the top
    wait_for(
        page,
        """async () => {
            const y = scrollY;
            await new Promise((r) => setTimeout(r, 150));
            return y > 0 && scrollY === y;
        }""",
    )
    page.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")
    settled(page)
    after = assert_in_view(page, 1400, 900)

    for name in IN_VIEW:
        for edge in ("top", "bottom", "left", "right"):
            moved = abs(after[name][edge] - before[name][edge])
            assert moved <= 1, f"{name}'s {edge} moved {moved:.1f} px on the first step"

    assert server.post("/api/train", {"steps": 20}).status_code == 200  # a short run
    wait_stepline(page, 20, 20, timeout=60_000)
    wait_for(page, "!document.querySelector('[data-testid=train]').disabled")
    settled(page)
    assert_in_view(page, 1400, 900)
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "layout-1400-light", full_page=False)


def test_the_three_cards_are_in_view_in_the_dark_scheme_too(server, open_page, screenshot):
    page, _ = open_live(open_page, server.url, width=1400, height=900, scheme="dark")
    settled(page)
    assert_in_view(page, 1400, 900)
    screenshot(page, "layout-1400-dark", full_page=False)


def test_on_a_phone_the_cards_come_train_recipe_loss_e_ask_then_the_rest(
    server, open_page, screenshot
):
    page, _ = open_live(open_page, server.url, width=390, height=844)
    settled(page)
    top = {name: box["top"] for name, box in boxes(page).items()}

    # the recipe right after the Train card: Step once walks it there (issue 23)
    assert top["train"] < top["recipe"] < top["loss"] < top["e"] < top["ask"]
    for rest in ("params", "samples"):
        assert top["ask"] < top[rest], f"{rest} comes before ask: {top}"
    widths = page.evaluate("document.documentElement.scrollWidth")
    assert widths <= 390, f"the page scrolls sideways: {widths} px"
    screenshot(page, "layout-390")


def test_attention_cells_are_large_enough_to_read_with_a_colour_legend(server, open_page):
    page, _ = open_live(open_page, server.url, width=1280, height=900)
    page.fill("[data-testid=prefix]", "")
    page.type("[data-testid=prefix]", "Emma", delay=30)  # upper case reads as "emma"
    wait_for(page, "document.querySelector('#predict .hm')?.children.length === 6")  # + header
    assert page.locator("[data-testid=prefix-error]").count() == 0

    sizes = page.eval_on_selector_all(
        "#predict .hm .cell",
        "cells => cells.map((c) => c.getBoundingClientRect()).map((r) => [r.width, r.height])",
    )
    assert len(sizes) == 4 * 5 * 5  # 4 heads of [BOS] + e m m a looking at each other
    assert min(min(w, h) for w, h in sizes) >= 22, sizes[:5]

    legend = page.locator("[data-testid=attention-scale]")
    assert legend.is_visible()
    assert "attention weight" in legend.inner_text()
    assert "0%" in legend.inner_text() and "100%" in legend.inner_text()
    # the same viridis ramp as the recipe's probability scale
    ramp = page.eval_on_selector(
        "[data-testid=attention-scale] .ramp", "el => getComputedStyle(el).backgroundImage"
    )
    assert ramp.startswith("linear-gradient") and "rgb(68, 1, 84)" in ramp  # #440154
    assert "rgb(253, 231, 37)" in ramp  # #fde725
