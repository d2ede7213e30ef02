"""The classroom in real Chromium, a browser context per person: the teacher makes a class,
a student joins and trains their own run, the teacher's view shows it live, spotlights it,
and the projector shows it big; another student may watch it but not train it."""

import re

import httpx

from tests.browser.conftest import wait_for

NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"
# what sticks out past the window's right edge (named in a failing NO_SIDEWAYS assertion)
WIDE = """[...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className + ' ' +
    Math.round(e.getBoundingClientRect().right))"""


def wait_live(page) -> None:
    wait_for(page, "document.querySelector('[data-testid=connection]')?.dataset.conn === 'live'")


def test_join_train_the_teachers_overlay_and_the_spotlight(server, open_page, screenshot):
    server.stop_all()
    teacher, _ = open_page(f"{server.url}/class/new")
    teacher.fill("[data-testid=class-name]", "Physics 1")
    teacher.click("[data-testid=more-settings] summary")
    teacher.fill("[data-testid=class-steps]", "40")
    teacher.click("[data-testid=class-create]")
    teacher.click("[data-testid=open-teacher-view]")
    teacher.wait_for_url(re.compile(r"/class/[A-Z0-9]{6}/teacher$"))
    code = teacher.inner_text("[data-testid=class-code]")
    join_url = teacher.inner_text("[data-testid=join-url]")
    assert join_url == f"{server.url}/class/{code}"
    assert teacher.locator("[data-testid=class-qr] svg").count() == 1
    assert "No students yet" in teacher.inner_text("[data-testid=class-roster]")

    ada, _ = open_page(join_url)
    ada.fill("[data-testid=join-name]", "Ada")
    ada.click("[data-testid=join]")
    rejoin = ada.inner_text("[data-testid=rejoin-code]")
    assert re.fullmatch(r"[A-Z0-9]{6}", rejoin)
    ada.click("[data-testid=open-my-run]")
    ada.wait_for_url(re.compile(r"/\?run=\d+$"))
    run = int(ada.url.rsplit("=", 1)[1])
    wait_live(ada)
    assert "your run" in ada.inner_text("[data-testid=classbar]")
    assert "Physics 1" in ada.inner_text("[data-testid=classbar]")

    # the teacher's roster and overlay follow her run, live
    wait_for(teacher, "document.querySelectorAll('[data-testid=roster-row]').length === 1")
    ada.click("[data-testid=train]")
    wait_for(
        teacher,
        "Number(document.querySelector('[data-testid=roster-step]')?.textContent) > 0",
        timeout=20_000,
    )
    wait_for(teacher, "document.querySelector('#class-chart').dataset.curves === '1'")
    wait_for(
        ada,
        "document.querySelector('[data-testid=status]').textContent.includes('40 steps')",
        timeout=30_000,
    )
    wait_for(teacher, "document.querySelector('[data-testid=roster-step]').textContent === '40'")
    # a line is named where the pointer is
    box = teacher.locator("#class-chart .u-over").bounding_box()
    for x in range(5, 100, 5):  # sweep until the cursor comes near the line
        teacher.mouse.move(box["x"] + box["width"] * x / 100, box["y"] + box["height"] / 2)
        if teacher.inner_text("[data-testid=class-hover]"):
            break
    assert teacher.inner_text("[data-testid=class-hover]").startswith(f"Ada (run {run})")
    teacher.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 2)
    screenshot(teacher, "class-teacher", full_page=True)

    # another student may watch Ada's run, not train it: its controls are served disabled
    bob, watch = open_page(f"{server.url}/?run={run}")
    wait_live(bob)
    assert "Ada's run: you can watch it" in bob.inner_text("[data-testid=classbar]")
    for control in ("train", "pause", "reset", "upload"):
        assert bob.locator(f"[data-testid={control}]").is_disabled(), control
    assert bob.locator("[data-testid=manage-run]").count() == 0  # no Rename, no Delete
    refused = bob.request.post(f"{server.url}/api/runs/{run}/train", data={"steps": 5})
    assert refused.status == 403 and "only Ada" in refused.json()["detail"]

    # the spotlight: the teacher puts Ada's run up; her page and the projector follow
    teacher.click(f"[data-testid=roster-row][data-run='{run}'] [data-testid=spotlight]")
    wait_for(teacher, "document.querySelector('[data-testid=spotlit]') !== null")
    wait_for(ada, "document.querySelector('[data-testid=spotlit-here]') !== null", timeout=8_000)
    wait_for(bob, "document.querySelector('[data-testid=spotlit-here]') !== null", timeout=8_000)
    projector, _ = open_page(f"{server.url}/class/{code}/projector")
    projector.wait_for_url(re.compile(rf"/\?run={run}&projector={code}$"))
    wait_live(projector)
    assert projector.evaluate("document.body.classList.contains('projector')")
    assert projector.locator("#loss-chart").is_visible()
    assert projector.locator("[data-testid=train]").is_hidden()
    screenshot(projector, "class-projector", full_page=False)

    # the spotlight ends: the projector goes back to the join screen by itself
    teacher.click("[data-testid=spotlight-off]")
    projector.wait_for_url(re.compile(rf"/class/{code}/projector$"), timeout=10_000)
    assert projector.locator("[data-testid=projector-qr] svg").count() == 1


def test_the_teacher_removes_a_student_after_asking(server, open_page):
    teacher_page, _ = open_page(f"{server.url}/class/new")
    teacher_page.fill("[data-testid=class-name]", "Removals")
    teacher_page.click("[data-testid=class-create]")
    teacher_page.click("[data-testid=open-teacher-view]")
    teacher_page.wait_for_url(re.compile(r"/class/[A-Z0-9]{6}/teacher$"))
    code = teacher_page.inner_text("[data-testid=class-code]")

    cy, _ = open_page(f"{server.url}/class/{code}")
    cy.fill("[data-testid=join-name]", "Cy")
    cy.click("[data-testid=join]")
    cy.click("[data-testid=open-my-run]")
    cy.wait_for_url(re.compile(r"/\?run=\d+$"))
    wait_live(cy)

    wait_for(teacher_page, "document.querySelectorAll('[data-testid=roster-row]').length === 1")
    teacher_page.click("[data-testid=remove]")
    wait_for(
        teacher_page,
        "document.querySelector('#class-actions').textContent.includes('Remove Cy and delete')",
    )
    teacher_page.wait_for_timeout(2_500)  # a roster refresh does not take the question away
    teacher_page.click("[data-testid=remove-confirm]")
    wait_for(teacher_page, "document.querySelector('[data-testid=roster-empty]') !== null")
    # Cy's page is told its run is gone
    wait_for(cy, "document.querySelector('[data-testid=run-news]').textContent.includes('deleted')")


def make_class(server, name, **body):
    teacher = httpx.Client(base_url=server.url, timeout=30)
    teacher.get("/")
    made = teacher.post("/api/classes", json={"name": name, **body}).json()
    return teacher, made


def test_home_teach_a_class_and_a_second_browser_becomes_teacher(server, open_page):
    home, _ = open_page(f"{server.url}/")
    home.click("[data-testid=teach-class]")
    home.wait_for_url(re.compile(r"/class/new$"))
    home.fill("[data-testid=class-name]", "Period 3 — Very Long Name For A Physics Class")
    home.click("[data-testid=class-create]")
    link = home.input_value("[data-testid=teacher-url]")
    assert re.search(r"/class/[A-Z0-9]{6}/teach\?key=.+", link)
    assert "Keep it private" in home.inner_text("[data-testid=teacher-link-why]")
    home.click("[data-testid=copy-teacher-url]")
    wait_for(
        home, "document.querySelector('[data-testid=copy-teacher-url]').textContent !== 'Copy'"
    )
    code = home.inner_text("[data-testid=created-code]")

    projector, _ = open_page(link)  # another browser: the projector's PC
    projector.wait_for_url(re.compile(rf"/class/{code}/teacher$"))
    assert projector.inner_text("[data-testid=class-code]") == code
    assert link.split("key=")[1] not in projector.content()
    projector.click("[data-testid=show-teacher-link]")
    wait_for(projector, "document.querySelector('[data-testid=teacher-url]') !== null")
    assert projector.input_value("[data-testid=teacher-url]") != link
    # the new link's Copy button came in with htmx, after the page's script ran: it works too
    projector.click("[data-testid=copy-teacher-url]")
    wait_for(
        projector,
        "document.querySelector('[data-testid=copy-teacher-url]').textContent !== 'Copy'",
    )


def test_a_student_types_the_code_on_a_phone(server, open_page, screenshot):
    _, made = make_class(server, "Phones", vary={"field": "lr", "values": [0.005, 0.02]})
    code = made["code"]
    phone, _ = open_page(f"{server.url}/", width=390, height=800)
    phone.click("[data-testid=join-class]")
    phone.wait_for_url(re.compile(r"/class$"))
    assert phone.evaluate(NO_SIDEWAYS)
    phone.fill("[data-testid=enter-code]", code.lower())
    phone.press("[data-testid=enter-code]", "Enter")
    phone.wait_for_url(re.compile(rf"/class/{code}$"))
    assert phone.evaluate(NO_SIDEWAYS)
    phone.fill("[data-testid=join-name]", "Ada")
    phone.click("[data-testid=join]")
    assert "learning rate 0.005" in phone.inner_text("[data-testid=assignment]")
    assert phone.evaluate(NO_SIDEWAYS)
    screenshot(phone, "class-phone-joined")
    phone.click("[data-testid=open-my-run]")
    phone.wait_for_url(re.compile(r"/\?run=\d+$"))
    wait_live(phone)
    assert phone.evaluate(NO_SIDEWAYS), phone.evaluate(WIDE)
    phone.goto(f"{server.url}/class/{code}")
    assert phone.evaluate(NO_SIDEWAYS)


def test_three_students_different_curves_on_the_teachers_chart(server, open_page, screenshot):
    server.stop_all()
    preset = {"steps": 60, "n_embd": 8, "n_head": 2}
    vary = {"field": "lr", "values": [0.002, 0.01, 0.05]}
    api, made = make_class(server, "Physics 3", preset=preset, vary=vary)
    code = made["code"]
    teacher, _ = open_page(made["teacher_url"])
    teacher.wait_for_url(re.compile(rf"/class/{code}/teacher$"))
    for name in ("Ada", "Brook", "Chen"):
        student, _ = open_page(f"{server.url}/class/{code}", width=390)
        student.fill("[data-testid=join-name]", name)
        student.click("[data-testid=join]")
        student.wait_for_selector("[data-testid=open-my-run]")
        if name == "Ada":
            screenshot(student, "class-phone-join")
    wait_for(teacher, "document.querySelectorAll('[data-testid=roster-row]').length === 3")
    runs = teacher.eval_on_selector_all(
        "[data-testid=roster-row]", "rows => rows.map(r => Number(r.dataset.run))"
    )
    api.put(f"/api/classes/{code}/spotlight", json={"run": runs[1]})  # drawn on top
    teacher.click("[data-testid=class-train]")
    wait_for(
        teacher,
        "() => [...document.querySelectorAll('[data-testid=roster-step]')]"
        ".every((s) => s.textContent === '60')",
        timeout=60_000,
    )
    wait_for(teacher, "document.querySelector('#class-chart').dataset.curves === '3'")
    wait_for(teacher, "document.querySelectorAll('#class-ranking li').length === 3")
    assert teacher.locator("#class-legend li").count() == 3
    assert "learning rate 0.05" in teacher.inner_text("#class-legend")
    losses = [
        float(li.split(": ")[1].split(" ")[0])
        for li in teacher.inner_text("#class-ranking").splitlines()
    ]
    assert len(set(losses)) == 3 and losses == sorted(losses)  # different models, ranked
    wait_for(teacher, "document.querySelectorAll('#class-groups tr').length === 3")
    screenshot(teacher, "class-teacher-chart", full_page=True)

    narrow, _ = open_page(made["teacher_url"], width=390)
    narrow.wait_for_url(re.compile(rf"/class/{code}/teacher$"))
    wait_for(narrow, "document.querySelector('#class-chart').dataset.curves === '3'")
    assert narrow.evaluate(NO_SIDEWAYS), narrow.evaluate(WIDE)

    projector = teacher.context.new_page()
    projector.set_viewport_size({"width": 1920, "height": 1080})
    projector.goto(f"{server.url}/class/{code}/projector?show=chart")
    wait_for(projector, "document.querySelector('#class-chart').dataset.curves === '3'")
    size = projector.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert size >= 22, size  # read from the back of the room
    screenshot(projector, "class-projector-chart", full_page=False)
