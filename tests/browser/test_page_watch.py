"""The watch every browser test's page is under (conftest.PageWatch): a page cannot reach
another machine, and a test that let one try fails, naming the host."""

import pytest

from tests.browser.conftest import PageWatch


def test_a_request_to_another_machine_fails_and_the_watch_names_its_host(browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto("data:text/html,<p>no server</p>")
        for url in ("http://10.1.2.3/x.js", "https://example.com/y.css"):
            assert page.evaluate("(u) => fetch(u).then(() => 'ok', (e) => e.name)", url) == (
                "TypeError"
            )
        page.evaluate("0")  # a round trip: the failures reach the watch
        watch.stop()
        assert watch.hosts == {"10.1.2.3", "example.com"}
        with pytest.raises(AssertionError, match="requests to other hosts"):
            watch.check()
    finally:
        context.close()
