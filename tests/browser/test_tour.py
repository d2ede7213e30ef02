"""The guided first visit (static/js/tour.js), on a phone (390×844), from the keyboard: offered
on a first visit, never imposed; each stop sits in the page's flow inside its panel (covering
neither the Train card nor the recipe), waits for the learner's action (doing it marks the stop
done; only the learner moves on), and its buttons are not the recipe walk's; Escape leaves it,
and the browser remembers: no offer on the next visit, Help offers it again, a reload resumes
it, "No, thanks" declines it for good.

A fresh run on the shared server serves this module (one page, reloaded; one step trained).
"""

import re

from tests.browser.conftest import wait_for

LIVE = "document.querySelector('[data-testid=connection]').dataset.conn === 'live'"
STOP = "document.getElementById('tour').dataset.stop"
DONE = "document.getElementById('tour').dataset.done !== undefined"
KEPT = "JSON.parse(localStorage.getItem('microgpt-tour'))"

# the tour's box: in the flow (not floating over anything), and clear of the Train card and of
# the recipe's contents (the walk, its buttons), whatever panel it is in
CLEAR = """() => {
  const box = document.getElementById('tour');
  if (box.hidden || getComputedStyle(box).position !== 'static') return false;
  const r = box.getBoundingClientRect();
  const apart = (sel) => {
    const o = document.querySelector(sel).getBoundingClientRect();
    return r.bottom <= o.top || o.bottom <= r.top || r.right <= o.left || o.right <= r.left;
  };
  return apart('.card-train') && apart('#recipe');
}"""


# an element wholly inside the window (not only "visible": a menu can open off screen)
ON_SCREEN = """(sel) => {
  const r = document.querySelector(sel).getBoundingClientRect();
  return r.width > 0 && r.top >= 0 && r.left >= 0
    && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
}"""


def press(page, testid: str) -> None:
    """A tour button, from the keyboard."""
    page.focus(f"[data-testid={testid}]")
    page.keyboard.press("Enter")


def go_on(page, stop: str) -> None:
    press(page, "tour-next")
    wait_for(page, f"{STOP} === '{stop}'")
    assert page.evaluate(CLEAR), f"the tour covers something at {stop}"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the page scrolls sideways at {stop}: {width}px"
    # the keyboard is on the new stop's heading; the stop waits for its task
    assert page.evaluate("document.activeElement.id") == f"tour-h-{stop}"
    assert not page.evaluate(DONE)


def test_the_tour_is_offered_waits_for_the_learner_and_is_remembered(server, open_page):
    page, _ = open_page(server.url, width=390, height=844)
    page.emulate_media(reduced_motion="reduce")  # the tour's scrolling at once
    wait_for(page, LIVE)

    # offered, not imposed
    assert page.locator("[data-testid=tour-offer]").is_visible()
    assert page.locator("[data-testid=tour]").is_hidden()
    assert page.evaluate(KEPT) is None
    press(page, "tour-start")
    wait_for(page, f"{STOP} === 'idea'")
    assert page.evaluate("document.activeElement.id") == "tour-h-idea"
    assert page.locator("[data-testid=tour-offer]").is_hidden()
    assert page.evaluate(CLEAR)
    names = page.eval_on_selector_all("#tour button", "bs => bs.map((b) => b.textContent.trim())")
    assert names == ["Previous stop", "Next stop", "Skip the tour"]
    assert not any(re.match(r"(Next|Previous) phase", n) for n in names)
    assert page.evaluate(KEPT) == {"state": "on", "stop": 0}

    # before and after: waits for training (one step is the cheapest); done, it still waits
    # for the learner
    go_on(page, "before")
    assert page.evaluate("document.documentElement.dataset.tour") == "before"
    page.click("[data-testid=step-once]")
    wait_for(page, DONE)
    assert page.evaluate(STOP) == "before"
    assert "Trained" in page.inner_text("#tour [data-stop=before]")

    # one step, phase by phase (that step, held at its sample): not done until its update;
    # a reload on the way resumes the tour at this stop
    go_on(page, "step")
    page.reload()
    wait_for(page, f"{STOP} === 'step'")
    assert page.locator("[data-testid=tour-offer]").is_hidden()
    wait_for(page, "document.querySelector('#recipe .recipe')?.dataset.at === '5'")
    for _ in range(4):  # from the whole step: sample, forward, loss, backward
        page.click("#recipe [data-testid=walk-next]")
    assert not page.evaluate(DONE)
    page.click("#recipe [data-testid=walk-next]")  # update
    wait_for(page, DONE)
    assert page.evaluate(STOP) == "step" and page.evaluate(CLEAR)

    # the loop: num_steps is the advanced settings' steps
    go_on(page, "loop")
    page.click("[data-testid=advanced] > summary")
    wait_for(page, DONE)

    # the loss over time: a moment of the history on view
    go_on(page, "loss")
    page.click("[data-testid=multiple] >> nth=0")
    wait_for(page, DONE)

    # the words: one of them focused
    go_on(page, "words")
    page.focus(".card-train a.term")
    wait_for(page, DONE)
    assert page.inner_text("[data-testid=tour-next]") == "Finish the tour"

    # Escape leaves it, and the browser remembers: no offer, no tour on the next visit
    page.focus("[data-testid=tour-next]")
    page.keyboard.press("Escape")
    wait_for(page, "document.getElementById('tour').hidden")
    assert page.evaluate("document.documentElement.dataset.tour") is None
    assert page.evaluate(KEPT) == {"state": "skipped"}
    page.reload()
    wait_for(page, LIVE)
    assert page.locator("[data-testid=tour-offer]").is_hidden()
    assert page.locator("[data-testid=tour]").is_hidden()

    # Help offers it again, from the start, on a phone too; Skip leaves it
    page.click("[data-testid=help-menu] > summary")
    assert page.evaluate(ON_SCREEN, "[data-testid=help-tour]")
    press(page, "help-tour")
    wait_for(page, f"{STOP} === 'idea'")
    press(page, "tour-skip")
    wait_for(page, "document.getElementById('tour').hidden")
    assert page.evaluate(KEPT) == {"state": "skipped"}

    # a first visit that declines: the offer goes, and that is remembered
    page.evaluate("localStorage.clear()")
    page.reload()
    page.locator("[data-testid=tour-offer]").wait_for()
    press(page, "tour-dismiss")
    assert page.locator("[data-testid=tour-offer]").is_hidden()
    assert page.evaluate(KEPT) == {"state": "declined"}
