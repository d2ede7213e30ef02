"""The Parameters panel in a real browser: every matrix as a heatmap through five lenses, a cell's
name and numbers on hover, one parameter followed up close with its gradient check, and the
per-matrix health lines. Screenshots: artifacts/screenshots/params-{light,dark,phone}.png.
"""

import httpx

from tests.browser.conftest import wait_for

MATRICES = [
    "wte",
    "wpe",
    "lm_head",
    "layer0.attn_wq",
    "layer0.attn_wk",
    "layer0.attn_wv",
    "layer0.attn_wo",
    "layer0.mlp_fc1",
    "layer0.mlp_fc2",
]


PICKABLE = [
    ("wte", (27, 16)),
    ("wpe", (8, 16)),
    ("lm_head", (27, 16)),
    *[(f"layer0.attn_{w}", (16, 16)) for w in ("wq", "wk", "wv", "wo")],
    ("layer0.mlp_fc1", (64, 16)),
    ("layer0.mlp_fc2", (16, 64)),
]


def wait_params_step(page, step: int) -> None:
    wait_for(page, f"document.querySelector('[data-testid=params-step]').dataset.step === '{step}'")


def test_the_panel_shows_every_matrix_and_follows_the_steps(server, open_page, screenshot):
    page, _ = open_page(server.url)
    wait_params_step(page, 0)

    captions = page.eval_on_selector_all(
        "[data-testid=params-grid] figcaption", "els => els.map(e => e.textContent.trim())"
    )
    assert captions == [
        "wte 27×16",
        "wpe 8×16",
        "lm_head 27×16",
        "layer0.attn_wq 16×16",
        "layer0.attn_wk 16×16",
        "layer0.attn_wv 16×16",
        "layer0.attn_wo 16×16",
        "layer0.mlp_fc1 64×16",
        "layer0.mlp_fc2 16×64",
    ]
    # wte's rows are labelled by character, wpe's by position
    wte_rows = page.eval_on_selector_all(
        "figure[data-name=wte] .rowlabels span", "els => els.map(e => e.textContent)"
    )
    assert wte_rows[:3] == ["a", "b", "c"] and wte_rows[-1] == "⏎"
    assert "value: blue −" in page.inner_text("[data-testid=params-legend]")

    page.check("[data-testid=lens-grad]")  # no step yet: no gradient to show
    assert "none yet" in page.inner_text("[data-testid=params-legend]")

    page.click("[data-testid=step-once]")
    wait_params_step(page, 1)
    assert "gradient: blue −" in page.inner_text("[data-testid=params-legend]")
    # attn_wo and mlp_fc2 start at 0, so no gradient reaches wq/wk/wv or fc1 at step 1: a
    # scale per matrix shows each one's own range beside its name
    page.check("[data-testid=per-matrix]")
    assert "each matrix on its own scale" in page.inner_text("[data-testid=params-legend]")
    assert "±" in page.inner_text("figure[data-name=wte] figcaption")
    page.uncheck("[data-testid=per-matrix]")
    screenshot(page.locator("#params-card"), "params-step1")


def test_hovering_a_cell_names_it_and_gives_its_numbers(server, open_page):
    page, _ = open_page(server.url)
    state = httpx.get(server.url + "/api/state").json()
    wait_params_step(page, state["step"])
    params = httpx.get(server.url + "/api/params").json()
    wq = next(m for m in params["matrices"] if m["name"] == "layer0.attn_wq")

    canvas = page.locator("[data-testid='matrix-layer0.attn_wq']")
    cell = float(canvas.get_attribute("data-cell"))
    canvas.hover(position={"x": 5 * cell + cell / 2, "y": 3 * cell + cell / 2})

    tip = page.inner_text("[data-testid=params-tip]")
    assert tip.startswith("layer0.attn_wq[3][5]")
    value = float(tip.split("value ")[1].split(" ")[0])
    assert abs(value - wq["value"][3][5]) <= 1e-3 * max(1.0, abs(wq["value"][3][5]))


def test_one_parameter_up_close_with_its_gradient_check(server, open_page):
    page, _ = open_page(server.url)
    state = httpx.get(server.url + "/api/state").json()
    wait_params_step(page, state["step"])
    canvas = page.locator("[data-testid='matrix-layer0.attn_wq']")
    cell = float(canvas.get_attribute("data-cell"))

    canvas.click(position={"x": 5 * cell + cell / 2, "y": 3 * cell + cell / 2})

    assert page.inner_text("[data-testid=focus-name]") == "layer0.attn_wq[3][5]"
    page.click("[data-testid=gradcheck]")
    out = page.locator("[data-testid=gradcheck-out]")
    wait_for(page, "document.querySelector('[data-testid=gradcheck-out]').dataset.relative")
    assert "autograd" in out.inner_text() and "numeric" in out.inner_text()
    assert float(out.get_attribute("data-relative")) < 1e-5

    # it is followed over the steps that come: the chart gains a point per frame
    assert httpx.post(server.url + "/api/train", json={"steps": 20}).status_code == 200
    wait_params_step(page, state["step"] + 20)
    wait_for(page, "document.querySelector('[data-testid=health-grad]').dataset.points >= 20")
    points = page.evaluate("document.querySelectorAll('[data-testid=focus-chart] canvas').length")
    assert points >= 1


def test_a_parameter_can_be_picked_from_the_keyboard(server, open_page):
    page, _ = open_page(server.url)
    state = httpx.get(server.url + "/api/state").json()
    wait_params_step(page, state["step"])
    assert page.eval_on_selector_all(
        "[data-testid=pick-name] option", "els => els.map(e => e.textContent)"
    ) == [f"{name} ({'×'.join(map(str, shape))})" for name, shape in PICKABLE]

    # a row beyond the matrix is named, with what is allowed, and nothing is followed
    page.focus("[data-testid=pick-name]")
    page.select_option("[data-testid=pick-name]", label="wpe (8×16)")
    page.fill("[data-testid=pick-row]", "8")
    page.fill("[data-testid=pick-col]", "2")
    page.focus("[data-testid=pick-follow]")
    page.keyboard.press("Enter")
    assert page.inner_text("[data-testid=pick-msg]") == (
        "row 8 is not in wpe: a whole number from 0 to 7"
    )
    assert page.locator("[data-testid=focus]").is_hidden()

    page.fill("[data-testid=pick-row]", "7")
    page.focus("[data-testid=pick-follow]")
    page.keyboard.press("Enter")
    assert page.inner_text("[data-testid=pick-msg]") == ""
    assert page.inner_text("[data-testid=focus-name]") == "wpe[7][2]"
    # and its numbers are the server's
    params = httpx.get(server.url + "/api/params").json()
    value = next(m for m in params["matrices"] if m["name"] == "wpe")["value"][7][2]
    now = page.inner_text("[data-testid=focus-now]")
    assert now.startswith("value ") and abs(float(now.split()[1]) - value) <= abs(value) * 1e-2


def test_the_panel_reads_in_dark_and_on_a_phone(server, open_page, screenshot):
    state = httpx.get(server.url + "/api/state").json()
    dark, _ = open_page(server.url, scheme="dark")
    wait_params_step(dark, state["step"])
    # a page opened later draws the health lines of every step so far, not just the new ones
    wait_for(
        dark,
        "(n) => document.querySelector('[data-testid=health-grad]').dataset.points === n",
        arg=str(state["step"]),
    )
    screenshot(dark, "params-dark")
    phone, _ = open_page(server.url, width=390, height=844)
    wait_params_step(phone, state["step"])
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the page scrolls sideways on a phone: {width}px"
    screenshot(phone, "params-phone")


# the mean of wte's pixels (0 black, 255 white): its zero is the card's colour
WTE_BRIGHTNESS = """() => {
    const c = document.querySelector('[data-testid=matrix-wte]');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
    return sum / (d.length / 4 * 3);
}"""


def test_the_heatmaps_repaint_when_the_colour_scheme_changes(server, open_page):
    """Switched with the model standing still: nothing else would paint them again."""
    page, _ = open_page(server.url)
    wait_params_step(page, httpx.get(server.url + "/api/state").json()["step"])
    light = page.evaluate(WTE_BRIGHTNESS)
    page.emulate_media(color_scheme="dark")
    wait_for(page, f"() => ({WTE_BRIGHTNESS})() < {light - 80}")
    page.emulate_media(color_scheme="light")
    wait_for(page, f"() => ({WTE_BRIGHTNESS})() === {light}")


def test_within_half_a_second_of_pause_every_panel_shows_the_paused_step(
    server, open_page, screenshot
):
    page, _ = open_page(server.url)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    assert server.post("/api/train", {"steps": 2000}).status_code == 200
    wait_for(page, "document.querySelector('[data-testid=loss-chart]').dataset.points >= 40")

    state = server.post("/api/pause").json()
    paused, run_start = state["step"], state["segment"]["start_step"]
    page.wait_for_timeout(500)

    shown = page.evaluate(
        """() => {
        const text = (sel) => document.querySelector(sel)?.textContent ?? "";
        const num = (s, re) => Number((s.match(re) || [])[1]);
        return {
            stepline: num(text("[data-testid=stepline]"), /step\\s+([\\d,]+)/),
            recipe: num(text("[data-testid=recipe]"), /Step ([\\d,]+):/),
            dist: num(text("[data-testid=dist]"), /now \\(step ([\\d,]+)\\)/),
            predict: num(text("[data-testid=predict]"), /now \\(step ([\\d,]+)\\)/),
            params: Number(document.querySelector("[data-testid=params-step]").dataset.step),
            recipeMap: Number(document.getElementById("recipe-map").dataset.frameStep),
        };
    }"""
    )
    # the step line counts the run's steps; the others, the model's
    assert shown["stepline"] == paused - run_start, shown
    del shown["stepline"]
    assert shown == dict.fromkeys(shown, paused), shown
    page.check("[data-testid=lens-update]")
    screenshot(page.locator("#params-card"), "params-light")  # the README's picture
