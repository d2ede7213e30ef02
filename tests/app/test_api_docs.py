"""/docs and /redoc over plain HTTP: same-origin assets only, no inline script, a strict CSP.

The browser checks (the pages render, nothing leaves the machine) are in
tests/browser/test_api_docs.py.
"""

from html.parser import HTMLParser

import httpx
import pytest

PAGES = ["/docs", "/redoc"]


class Page(HTMLParser):
    """Every URL in src/href, every <script> with its text, every inline event handler."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[dict] = []
        self.handlers: list[str] = []
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in {"src", "href"} and v is not None]
        self.handlers += [f"<{tag} {k}>" for k, _ in attrs if k.startswith("on")]
        if tag == "script":
            self._script = {"src": dict(attrs).get("src"), "text": ""}
            self.scripts.append(self._script)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data


def directives(csp: str) -> dict[str, list[str]]:
    parts = (d.split() for d in csp.split(";") if d.strip())
    return {p[0].lower(): p[1:] for p in parts}


def fetch(base: str, path: str) -> tuple[httpx.Response, Page]:
    response = httpx.get(base + path, timeout=30)
    page = Page()
    page.feed(response.text)
    return response, page


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_is_html_with_only_same_origin_static_assets(live_server, path):
    response, page = fetch(live_server, path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert page.urls and all(u.startswith("/static/") for u in page.urls), page.urls
    for url in page.urls:
        asset = httpx.get(live_server + url, timeout=30)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_has_no_inline_script(live_server, path):
    _, page = fetch(live_server, path)

    assert page.scripts, "no <script> at all"
    assert all(s["src"] for s in page.scripts), page.scripts
    assert all(not s["text"].strip() for s in page.scripts), page.scripts
    assert page.handlers == []


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_sets_a_csp_that_allows_only_same_origin_scripts(live_server, path):
    response, _ = fetch(live_server, path)

    csp = response.headers["content-security-policy"]
    policy = directives(csp)
    assert "'unsafe-eval'" not in csp
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert "http:" not in csp and "https:" not in csp and "*" not in csp


def test_swagger_ui_runs_under_the_strict_default_styles(live_server):
    """Swagger UI needs no inline <style>; only ReDoc (styled-components) does."""
    docs = directives(
        httpx.get(live_server + "/docs", timeout=30).headers["content-security-policy"]
    )
    redoc = directives(
        httpx.get(live_server + "/redoc", timeout=30).headers["content-security-policy"]
    )

    assert docs["style-src"] == ["'self'"]
    assert "worker-src" not in docs
    assert redoc["style-src"] == ["'self'", "'unsafe-inline'"]
    assert redoc["worker-src"] == ["blob:"]


def test_docs_pages_are_not_in_the_openapi_document(live_server):
    paths = httpx.get(live_server + "/openapi.json", timeout=30).json()["paths"]

    assert not {"/docs", "/redoc"} & set(paths)
