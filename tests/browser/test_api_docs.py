"""/docs (Swagger UI) and /redoc (ReDoc) in a real browser, offline, under their own CSP.

Each page must render the app's API from the vendored bundles with no console error (Chromium
logs every CSP violation as one; the pages also report them through a securitypolicyviolation
listener, to be sure) and no request to another host. Screenshots: artifacts/screenshots/
{api-docs-swagger,api-docs-redoc}.png.
"""

import re

import httpx
from playwright.sync_api import expect

# Installed before any page script runs: a blocked script, style, image or worker becomes a
# console error even if the browser itself only reports it to listeners.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
"""


def operations(base: str) -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the app's OpenAPI document."""
    spec = httpx.get(f"{base}/openapi.json", timeout=30).json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return [(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in methods]


def open_docs(open_page, base: str, path: str):
    """(page, watch, request URLs): open_page's watch, plus every URL the page requested."""
    page, watch = open_page("about:blank", keep=False)  # its init script stays with the page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    response = page.goto(base + path)
    assert response is not None and response.status == 200
    return page, watch, urls


def assert_offline_and_clean(page, watch, urls: list[str], base: str) -> None:
    page.wait_for_timeout(500)  # late requests and errors (images, workers) have time to show
    local = (f"{base}/", f"blob:{base}/")  # a blob: URL is made in the page, not fetched
    assert [u for u in urls if not u.startswith(local)] == [], "requests to other hosts"
    assert watch.console_errors == []
    assert watch.page_errors == []


def test_swagger_ui_lists_every_operation_and_tries_one_offline(live_server, open_page, screenshot):
    expected = operations(live_server)
    page, watch, urls = open_docs(open_page, live_server, "/docs")

    expect(page.get_by_text("/api/train", exact=True)).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(len(expected))
    shown = page.locator(".opblock-summary-path").evaluate_all(
        "els => els.map(e => e.dataset.path)"
    )
    assert sorted(shown) == sorted(p for _, p in expected)

    state = page.locator(".opblock", has=page.locator('[data-path="/api/state"]'))
    state.locator(".opblock-summary").click()
    state.get_by_role("button", name="Try it out").click()
    state.get_by_role("button", name="Execute").click()  # a fetch to this origin: connect-src
    status = state.locator(".live-responses-table tr.response .response-col_status")
    expect(status).to_have_text("200")
    screenshot(page, "api-docs-swagger", full_page=False)

    assert_offline_and_clean(page, watch, urls, live_server)
    init = re.compile(rf"{live_server}/static/v-[0-9a-f]{{12}}/docs-init\.js")  # app.web.assets
    assert any(init.fullmatch(u) for u in urls), urls


def test_redoc_shows_the_operations_and_searches_offline(live_server, open_page, screenshot):
    page, watch, urls = open_docs(open_page, live_server, "/redoc")

    expect(page.get_by_text("/api/train", exact=True)).to_be_visible()
    expect(page.locator("h2", has_text="Train").first).to_be_visible()
    expect(page.get_by_text("Something went wrong")).to_have_count(0)

    # Search runs in a web worker that ReDoc starts from a blob: URL (worker-src blob:).
    page.get_by_placeholder("Search...").fill("checkpoint")
    results = page.locator("[data-role='search:results']")
    expect(results).to_contain_text("Checkpoint")
    screenshot(page, "api-docs-redoc", full_page=False)

    assert_offline_and_clean(page, watch, urls, live_server)
    # The side menu's Redocly logo (an image on Redocly's CDN) is neither fetched nor shown.
    expect(page.locator("img[alt='redocly logo']")).to_have_count(0)
