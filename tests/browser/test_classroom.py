"""The classroom in real Chromium, a browser context per person: the teacher makes a class,
a student joins and trains their own run, the teacher's view shows it live, spotlights it,
and the projector shows it big; another student may watch it but not train it."""

import re

from tests.browser.conftest import wait_for


def wait_live(page) -> None:
    wait_for(page, "document.querySelector('[data-testid=connection]')?.dataset.conn === 'live'")


def test_join_train_the_teachers_overlay_and_the_spotlight(server, open_page, screenshot):
    server.stop_all()
    teacher, _ = open_page(f"{server.url}/class/new")
    teacher.fill("[data-testid=class-name]", "Physics 1")
    teacher.fill("[data-testid=class-steps]", "40")
    teacher.click("[data-testid=class-create]")
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

    # another student may watch Ada's run, not train it
    bob, watch = open_page(f"{server.url}/?run={run}")
    wait_live(bob)
    assert "Ada's run: you can watch it" in bob.inner_text("[data-testid=classbar]")
    bob.click("[data-testid=train]")
    wait_for(bob, "document.querySelector('#controls').textContent.includes('only Ada')")

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
