"""The recipe, phase by phase: Step once starts a walk held at sample, and Next phase moves it
through forward → loss → backward → update with the step's real data, the training loop's
code beside it with the phase's lines lit; other steps (a run slowed to 5 steps/s or less,
every one of them; at full speed, throttled) show whole.
Screenshots: artifacts/screenshots/walk-{forward,backward,update}[-dark|-phone].png.
"""

import math
import time

import httpx

from tests.browser.conftest import wait_for

# Records every phase the recipe shows, with what a reader sees at that moment.
RECORD = """() => {
  window.phases = [];
  const box = document.getElementById('recipe');
  const seen = () => {
    const el = box.querySelector('.recipe');
    if (!el) return;
    const last = window.phases[window.phases.length - 1];
    const step = Number(el.dataset.step), at = Number(el.dataset.at);
    if (last && last.step === step && last.at === at) return;
    const vis = (sel) => {
      const e = el.querySelector(sel);
      return e && getComputedStyle(e).visibility;
    };
    const lit = [...el.querySelectorAll('.recipe-code [data-p]')]
      .filter((e) => getComputedStyle(e).backgroundColor !== 'rgba(0, 0, 0, 0)')
      .map((e) => Number(e.dataset.p));
    const map = document.getElementById('recipe-map');
    window.phases.push({
      step, at, t: performance.now(), lit: [...new Set(lit)],
      prob: vis('.tok.pred .p'), nll: vis('.tok.pred .nll'),
      loss: vis('[data-testid=recipe-loss]'), map: vis('[data-testid=recipe-map]'),
      lens: map.dataset.lens, frame: Number(map.dataset.frameStep),
    });
  };
  // a recipe swapped in and out again before the observer ran (two steps' fragments read in
  // one go on a busy machine) is recorded too, by its step and phase alone
  const passing = (records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        const el = node.matches('.recipe') ? node : node.querySelector('.recipe');
        if (el && !el.isConnected) {
          window.phases.push({step: Number(el.dataset.step), at: Number(el.dataset.at),
                              t: performance.now(), gone: true});
        }
      }
    }
    seen();
  };
  new MutationObserver(passing).observe(box, {subtree: true, childList: true, attributes: true,
                                              attributeFilter: ['data-at', 'data-step']});
  seen();
}"""


def phases_of(page, step: int) -> list[dict]:
    return [p for p in page.evaluate("window.phases") if p["step"] == step]


def wait_state(server, status: str) -> None:
    for _ in range(300):
        if httpx.get(server.url + "/api/state").json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"never {status}")


def test_step_once_walks_the_recipe_through_its_five_phases(server, open_page, screenshot):
    page, _ = open_page(server.url)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    page.evaluate(RECORD)
    step = httpx.get(server.url + "/api/state").json()["step"] + 1

    page.click("[data-testid=step-once]")
    wait_for(page, f"() => window.phases.some(p => p.step === {step} && p.at === 0)")
    # held: the whole step has arrived (its Parameters frame too), and the walk stays at sample
    wait_for(page, "document.querySelector('#recipe [data-push]')?.textContent !== '…'")
    page.wait_for_timeout(1600)
    assert [p["at"] for p in phases_of(page, step)] == [0]
    for k, shot in ((1, "walk-forward"), (2, None), (3, "walk-backward"), (4, "walk-update")):
        page.click("#recipe [data-testid=walk-next]")
        wait_for(page, f"() => window.phases.some(p => p.step === {step} && p.at === {k})")
        if k == 4:
            wait_for(page, "document.getElementById('recipe-map').dataset.lens === 'update'")
        if shot:
            screenshot(page.locator("[data-testid=recipe]"), shot)

    walk = phases_of(page, step)
    assert [p["at"] for p in walk] == [0, 1, 2, 3, 4]
    # sample: only the name; forward: the probabilities; loss: each position's −ln p and the mean
    sample, forward, loss, backward, update = walk
    assert (sample["prob"], sample["nll"], sample["loss"]) == ("hidden", "hidden", "hidden")
    assert (forward["prob"], forward["nll"], forward["loss"]) == ("visible", "hidden", "hidden")
    assert (loss["nll"], loss["loss"], loss["map"]) == ("visible", "visible", "hidden")
    # backward: the map of every parameter's gradient lights up; update: it shows the change
    assert backward["map"] == "visible" and backward["lens"] == "grad"
    assert backward["frame"] == step
    assert update["lens"] == "update" and update["frame"] == step
    # the training loop's lines of each phase are lit in turn
    assert [p["lit"] for p in walk] == [[0], [1], [2], [3], [4]]

    # the numbers are the step's own: the shown loss is the mean of the positions' −ln p, and
    # the loss the history records for this step
    shown = float(page.inner_text("[data-testid=recipe-loss]"))
    texts = "els => els.map(e => e.textContent)"
    nlls = [float(x) for x in page.eval_on_selector_all(".tok.pred .nll", texts)]
    probs = page.eval_on_selector_all(".tok.pred .p", texts)
    assert abs(sum(nlls) / len(nlls) - shown) < 0.006
    for nll, pct in zip(nlls, probs, strict=True):
        p = float(pct.rstrip("%")) / 100
        assert abs(math.exp(-nll) - p) < 0.0006 + 0.01 * p  # both rounded for display
    history = httpx.get(server.url + "/api/history").json()["points"]
    assert abs(next(p["loss"] for p in history if p["step"] == step) - shown) < 5e-5

    # the whole step stays on screen; a reload shows it whole, no walk
    page.reload()
    wait_for(page, "document.querySelector('#recipe .recipe')?.dataset.at === '5'")
    assert page.locator("[data-testid=recipe-map]").is_visible()


def test_slow_motion_shows_every_step_whole_and_full_speed_some(server, open_page):
    page, _ = open_page(server.url)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    page.evaluate(RECORD)
    start = httpx.get(server.url + "/api/state").json()["step"]

    page.select_option("[data-testid=pace]", "1")  # 1 step/s: every step's recipe is sent
    wait_for(page, "document.querySelector('[data-testid=pace]').value === '1'")
    httpx.post(server.url + "/api/train", json={"steps": 4})
    wait_state(server, "idle")
    wait_for(page, f"() => window.phases.some(p => p.step === {start + 4})")
    for step in range(start + 1, start + 5):
        assert [p["at"] for p in phases_of(page, step)] == [5], step  # whole, never walked

    page.select_option("[data-testid=pace]", "")  # full speed
    wait_for(page, "document.querySelector('[data-testid=pace]').value === ''")
    httpx.post(server.url + "/api/train", json={"steps": 30})
    wait_state(server, "idle")
    wait_for(page, f"() => window.phases.some(p => p.step === {start + 34})")
    fast = [p for p in page.evaluate("window.phases") if p["step"] > start + 4]
    assert fast and all(p["at"] == 5 for p in fast)  # shown whole, never walked
    # at full speed the recipe is throttled, not every step is drawn; the last one always is
    assert len({p["step"] for p in fast}) < 30


def test_the_walk_reads_in_dark_and_on_a_phone(server, open_page, screenshot):
    for width, scheme, name in ((1280, "dark", "walk-dark"), (390, "light", "walk-phone")):
        page, _ = open_page(server.url, width=width, scheme=scheme)
        wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
        page.evaluate(RECORD)
        step = httpx.get(server.url + "/api/state").json()["step"] + 1
        page.click("[data-testid=step-once]")
        wait_for(page, f"() => window.phases.some(p => p.step === {step} && p.at === 0)")
        for _ in range(3):
            page.click("#recipe [data-testid=walk-next]")
        wait_for(page, f"() => window.phases.some(p => p.step === {step} && p.at === 3)")
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"page is {overflow}px wide at {width}px"
        screenshot(page.locator("[data-testid=recipe]"), name)
        page.keyboard.press("ArrowRight")  # the recipe has focus since Step once
        wait_for(page, f"() => window.phases.some(p => p.step === {step} && p.at === 4)")
        page.close()
