"""What a person sees when something goes wrong, and what another site's page cannot do.

- A page served from another origin can neither drive the server (a self-submitting form, a
  fetch) nor frame it to click through its buttons.
- A run that diverges ends with a message that names the step and suggests a lower learning
  rate; the chart drops the lost steps; the model trains again.
- A damaged database moved aside at start is announced by a banner.
Screenshots: artifacts/screenshots/{diverged,damaged-database}.png.
"""

import http.server
import threading
from functools import partial

import pytest

from tests.browser.conftest import wait_for
from tests.conftest import free_port


@pytest.fixture
def attacker_site(tmp_path):
    """Another origin (another port on 127.0.0.1: same host, another site of its own)."""

    def serve(pages: dict[str, str]) -> str:
        for name, text in pages.items():
            (tmp_path / name).write_text(text)
        handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    servers: list = []
    yield serve
    for httpd in servers:
        httpd.shutdown()


def test_another_sites_page_cannot_train_reset_or_frame_the_app(server, open_page, attacker_site):
    before = server.state()
    evil = attacker_site(
        {
            "attack.html": f"""<!doctype html><title>cute cats</title>
<form id="f" method="post" action="{server.url}/ui/reset" target="sink">
  <input name="seed" value="666"></form>
<iframe name="sink"></iframe>
<iframe id="framed" src="{server.url}/"></iframe>
<script>
  document.getElementById("f").submit();
  fetch("{server.url}/api/train", {{method: "POST", mode: "no-cors",
    headers: {{"Content-Type": "text/plain"}}, body: '{{"steps": 500}}'}}).catch(() => null);
  fetch("{server.url}/ui/train", {{method: "POST", mode: "no-cors",
    body: new URLSearchParams({{steps: "500"}})}})  // the answer is blocked (CORP) anyway
    .catch(() => null).finally(() => document.title = "sent");
</script>"""
        }
    )

    page, watch = open_page(f"{evil}/attack.html")
    watch.allow_console_errors = True  # the refused frame is reported in the console
    wait_for(page, "document.title === 'sent'")
    page.wait_for_timeout(500)

    after = server.state()
    assert (after["model"], after["seed"], after["step"], after["status"]) == (
        before["model"],
        before["seed"],
        before["step"],
        "idle",
    )
    framed = page.frame_locator("#framed")
    assert framed.locator("[data-testid=train]").count() == 0  # nothing to click through
    assert any("frame-ancestors" in e for e in watch.console_errors), watch.console_errors


def test_a_run_that_diverges_says_so_and_the_model_trains_again(
    server_factory, open_page, screenshot
):
    server = server_factory(MICROGPT_FAULT_NONFINITE_AT="40", MICROGPT_CHECKPOINT_EVERY="25")
    page, _ = open_page(server.url)
    wait_for(page, "document.querySelector('[data-testid=connection]').dataset.conn === 'live'")
    page.click("[data-testid=advanced] summary")
    page.fill("[data-testid=steps]", "100")

    page.click("[data-testid=train]")

    summary = page.locator("[data-testid=run-summary]")
    summary.wait_for()
    assert "Run diverged." in summary.inner_text()
    assert "diverged at step 40" in summary.inner_text()
    assert "lower learning rate than 0.01" in summary.inner_text()
    assert "diverged · back at step 25" in page.inner_text("[data-testid=status]")
    # the chart's description follows its points: the steps after 25 are gone
    wait_for(
        page, "document.querySelector('[data-testid=loss-desc]').textContent.includes('to 25:')"
    )
    # the recipe and the "e" bars no longer show a step whose weights are gone
    assert "now (step 25)" in page.inner_text("[data-testid=dist]")
    assert "Step 3" not in page.inner_text("[data-testid=recipe]")
    screenshot(page, "diverged")

    page.fill("[data-testid=steps]", "5")
    page.click("[data-testid=train]")
    wait_for(
        page, "document.querySelector('[data-testid=status]').textContent.includes('30 steps')"
    )
    assert "Run finished." in page.inner_text("[data-testid=run-summary]")
    page.close()  # before the server goes: a page left open would fail to reconnect
    server.stop()


def test_a_damaged_database_is_announced_by_a_banner(
    server_factory, tmp_path, open_page, screenshot
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "microgpt.sqlite3").write_bytes(b"this is not a database, it was cut short")
    server = server_factory(data)

    page, _ = open_page(server.url)

    banner = page.locator("[data-testid=notice]")
    assert banner.is_visible()
    text = banner.inner_text()
    assert "microgpt.sqlite3 was damaged" in text and ".corrupt-" in text
    screenshot(page, "damaged-database", full_page=False)
    page.close()  # before the server goes: a page left open would fail to reconnect
    server.stop()
