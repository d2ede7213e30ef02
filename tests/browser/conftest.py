"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), one for the session.

Every page made by ``open_page`` (in a browser context of its own) records console errors,
uncaught exceptions, dialogs and the host of every failed request (a request to any other
machine fails: CHROMIUM_ARGS' proxy); at teardown it asserts there were none of the first three
and that no request to a host but 127.0.0.1 was tried (no asset from another host).
Screenshots, for people to look at, are taken when MICROGPT_SCREENSHOTS=1 (``make
screenshots``) and go to artifacts/screenshots/ (gitignored).
"""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("MICROGPT_CHROMIUM", "/usr/bin/chromium")
# Playwright's own --disable-features list (chromiumSwitches.ts, 1.65), which a second
# --disable-features would replace, and the WebUI omnibox popups: Chromium's new headless mode
# builds a hidden window's omnibox popups in a renderer of their own for every browser context,
# ~0.9 CPU-s each, which was an eighth of the suite's CPU.
DISABLED_FEATURES = [
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
    "WebUIOmniboxFullPopup",
]
CHROMIUM_ARGS = [
    "--disable-features=" + ",".join(DISABLED_FEATURES),
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # every request to another machine goes to a proxy that is not there and fails (loopback
    # bypasses proxies): the page cannot reach one, and PageWatch hears of each (a request
    # listener on every page would cost ~0.06 CPU-s a load, in the test and Playwright's driver)
    "--proxy-server=http://127.0.0.1:1",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


def request_host(url: str) -> str:
    """The host a request goes to; a blob: URL is made inside the page of the origin it names."""
    if url.startswith("blob:"):
        url = url[len("blob:") :]
    return urlsplit(url).hostname or url


class PageWatch:
    """What a page did that a test may want to forbid, from its opening until ``stop``."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.hosts: set[str] = set()
        self.origins: set[str] = set()
        self.allow_console_errors = False
        self._listeners = {
            "console": self._on_console,
            "pageerror": lambda exc: self.page_errors.append(str(exc)),
            "requestfailed": self._on_request_failed,
            "framenavigated": self._on_navigated,
            "dialog": self._on_dialog,
        }
        for event, listener in self._listeners.items():
            page.on(event, listener)

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def _on_request_failed(self, request) -> None:
        """A request to another machine fails at CHROMIUM_ARGS' proxy; one to this machine may
        fail too (a stream cut off by leaving the page), and only its host is kept."""
        self.hosts.add(request_host(request.url))

    def _on_navigated(self, frame) -> None:
        parts = urlsplit(frame.url)
        if parts.scheme in ("http", "https"):
            self.origins.add(f"{parts.scheme}://{parts.netloc}")

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def stop(self) -> None:
        """Stop watching (before the page is taken away from the test: a fetch cut off by
        leaving the page is not the test's error)."""
        if not self.page.is_closed():
            for event, listener in self._listeners.items():
                self.page.remove_listener(event, listener)

    def check(self) -> None:
        assert self.hosts <= {"127.0.0.1"}, f"requests to other hosts: {self.hosts}"
        assert not self.page_errors, f"uncaught exceptions: {self.page_errors}"
        assert not self.dialogs, f"dialogs shown: {self.dialogs}"
        if not self.allow_console_errors:
            assert not self.console_errors, f"console errors: {self.console_errors}"


class Tab:
    """A browser context (a browser of its own: its own cookies, so its own identity) with one
    page, which the next test gets once this one is done with it, cleared of the cookies and
    storage it had. A new context costs headless Chromium ~0.7 CPU-s more than a page that goes
    on to its next URL in the same renderer: the suite opens ~150."""

    def __init__(self, browser):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.cdp = self.context.new_cdp_session(self.page)

    def usable(self) -> bool:
        return not self.page.is_closed()

    def prepare(self, width: int, height: int, scheme: str, motion: bool) -> None:
        self.page.set_viewport_size({"width": width, "height": height})
        self.page.emulate_media(
            media="null",
            forced_colors="none",
            color_scheme=scheme,
            reduced_motion="no-preference" if motion else "reduce",
        )

    def clear(self, origins: set[str]) -> None:
        """Leave the test's page for a small one of the same site (the same renderer goes on;
        about:blank would start another), then forget what the test's pages stored."""
        for extra in self.context.pages:
            if extra != self.page:
                extra.close()
        url = urlsplit(self.page.url)
        try:
            if url.scheme != "http":  # about:blank, an error page: no site to go on in
                raise ValueError(self.page.url)
            self.page.goto(f"http://{url.netloc}/healthz", timeout=5_000)
        except Exception:  # noqa: BLE001 - its server is gone, or the page is not the app's
            self.page.goto("about:blank")
        self.context.clear_cookies()
        self.context.clear_permissions()
        for origin in origins:
            self.cdp.send(
                "Storage.clearDataForOrigin",
                {"origin": origin, "storageTypes": "all"},
            )


class TabPool:
    """Tabs kept for the session (per xdist worker): ``take`` one, ``give_back`` it after."""

    def __init__(self, browser):
        self.browser = browser
        self.free: list[Tab] = []

    def take(self) -> Tab:
        while self.free:
            tab = self.free.pop()
            if tab.usable():
                return tab
            tab.context.close()
        return Tab(self.browser)

    def give_back(self, tab: Tab, origins: set[str], keep: bool = True) -> None:
        if keep and tab.usable():
            try:
                tab.clear(origins)
                self.free.append(tab)
                return
            except Exception:  # noqa: BLE001 - a tab that cannot be cleared is not kept
                pass
        tab.context.close()

    def close(self) -> None:
        for tab in self.free:
            tab.context.close()
        self.free.clear()


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def tabs(browser):
    pool = TabPool(browser)
    yield pool
    pool.close()


@pytest.fixture
def open_page(tabs):
    """``open_page(url, width=1280, scheme="light", motion=False, keep=True)`` -> (page, watch),
    a page of a browser of its own (its own cookies, so its own identity), checked at teardown.
    A page prefers reduced motion unless ``motion``: its animations (bars easing to their new
    heights four times a second while a run streams) cost a headless browser, which composites
    in software, about a CPU-second a run watched; the tests of what moves ask for motion.
    ``keep=False``: the test changes its page beyond what a Tab clears (an init script, a
    route, a ``dialog`` or ``console`` listener of its own: listeners stay with the page), so
    its browser is closed after it, not given to the next test."""
    opened: list[tuple] = []

    def make(
        url: str,
        width: int = 1280,
        height: int = 900,
        scheme: str = "light",
        motion=False,
        keep=True,
    ):
        tab = tabs.take()
        tab.prepare(width, height, scheme, motion)
        watch = PageWatch(tab.page)
        opened.append((tab, watch, keep))
        tab.page.goto(url)
        return tab.page, watch

    yield make
    for tab, watch, _ in opened:
        if tab.usable():
            tab.page.evaluate("0")  # a round trip: what the page said last reaches its watch
        watch.stop()
    for tab, watch, keep in opened:
        tabs.give_back(tab, watch.origins, keep)
    for _, watch, _ in opened:
        watch.check()


@pytest.fixture(scope="session")
def screenshot():
    """``screenshot(target, name)``: a picture for people, not a check, taken only when asked
    (MICROGPT_SCREENSHOTS=1): a whole page's is ~0.4 CPU-s, and the suite would take ~50."""
    wanted = os.environ.get("MICROGPT_SCREENSHOTS") == "1"
    if wanted:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(target, name: str, full_page: bool = True) -> Path | None:
        """``target``: a page (the whole of it unless ``full_page`` is False) or a locator."""
        if not wanted:
            return None
        path = SCREENSHOTS / f"{name}.png"
        if hasattr(target, "goto"):
            target.screenshot(path=str(path), full_page=full_page)
        else:
            target.screenshot(path=str(path))
        return path

    return shoot


def wait_for(page, expression: str, arg=None, timeout: float = 15_000):
    """Wait until ``expression`` (a JS expression, or a function of ``arg``) is truthy.

    Playwright's own ``wait_for_function`` compiles its predicate with ``eval`` inside the page,
    which the app's CSP forbids (no 'unsafe-eval', as it should). Here the whole polling loop
    is one function given to ``page.evaluate``, which the DevTools protocol compiles (CSP does
    not govern it); it checks every 16 ms inside the page, so a state that lasts a frame is seen.
    """
    source = expression.strip()
    head = source.split("\n", 1)[0]
    predicate = source if "=>" in head or source.startswith(("function", "async")) else None
    predicate = predicate or f"() => ({source})"
    value = page.evaluate(
        f"""async (arg) => {{
            const predicate = {predicate};
            const deadline = Date.now() + {timeout};
            for (;;) {{
                const value = await predicate(arg);
                if (value) return value;
                if (Date.now() > deadline) return null;
                await new Promise((resolve) => setTimeout(resolve, 16));
            }}
        }}""",
        arg,
    )
    if not value:
        raise AssertionError(f"timed out after {timeout:g} ms waiting for: {expression}")
    return value


def wait_stepline(page, step: int, total: int, timeout: float = 15_000) -> None:
    """Wait until the progress line reads ``step {step} / {total}``."""
    wait_for(
        page,
        """([step, total]) => {
            const m = document.querySelector('[data-testid=stepline]')
                .textContent.match(/step\\s+(\\d+) \\/\\s+(\\d+)/);
            return m && Number(m[1]) === step && Number(m[2]) === total;
        }""",
        arg=[step, total],
        timeout=timeout,
    )


def press_until(page, button: str, shown: str, timeout: float = 5_000, tries: int = 3) -> None:
    """Click ``button`` until ``shown`` (a JS expression, as ``wait_for`` takes) holds. On a busy
    machine a panel still filling in moved a button between the click's aim and the click,
    which then pressed nothing (seen for Generate under the prefix box's answer, and for the
    graph card's summary far down the page)."""
    for _ in range(tries):
        page.click(button)
        try:
            wait_for(page, shown, timeout=timeout)
            return
        except AssertionError:
            continue
    raise AssertionError(f"{tries} presses of {button} did not bring: {shown}")


def generate_samples(page) -> None:
    """Press Generate until the sample list shows."""
    press_until(
        page,
        "[data-testid=generate]",
        "document.querySelector('[data-testid=sample-list] li')?.checkVisibility() === true",
    )
