"""Browser fixtures: Debian's Chromium driven by Playwright (sync API), one for the session.

Every page made by ``open_page`` (in a browser context of its own) records console errors,
uncaught exceptions, dialogs and the host of every request; at teardown it asserts there were
none of the first three and that every request went to 127.0.0.1 (no asset from another host).
Screenshots go to artifacts/screenshots/ (gitignored).
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
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


def request_host(url: str) -> str:
    """The host a request goes to; a blob: URL is made inside the page of the origin it names."""
    if url.startswith("blob:"):
        url = url[len("blob:") :]
    return urlsplit(url).hostname or url


class PageWatch:
    """What a page did that a test may want to forbid."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.hosts: set[str] = set()
        self.allow_console_errors = False
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("request", lambda req: self.hosts.add(request_host(req.url)))
        page.on("dialog", self._on_dialog)

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            self.console_errors.append(msg.text)

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self) -> None:
        assert self.hosts <= {"127.0.0.1"}, f"requests to other hosts: {self.hosts}"
        assert not self.page_errors, f"uncaught exceptions: {self.page_errors}"
        assert not self.dialogs, f"dialogs shown: {self.dialogs}"
        if not self.allow_console_errors:
            assert not self.console_errors, f"console errors: {self.console_errors}"


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """``open_page(url, width=1280, scheme="light", motion=False)`` -> (page, watch); checked
    at teardown. A page prefers reduced motion unless ``motion``: its animations (bars easing
    to their new heights four times a second while a run streams) cost a headless browser,
    which composites in software, about a CPU-second a run watched; the tests of what moves
    ask for motion."""
    opened: list[tuple] = []

    def make(url: str, width: int = 1280, height: int = 900, scheme: str = "light", motion=False):
        context = browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme=scheme,
            reduced_motion="no-preference" if motion else "reduce",
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        watch = PageWatch(page)
        opened.append((context, watch))
        page.goto(url)
        return page, watch

    yield make
    for context, _ in opened:
        context.close()
    for _, watch in opened:
        watch.check()


@pytest.fixture(scope="session")
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(target, name: str, full_page: bool = True) -> Path:
        """``target``: a page (the whole of it unless ``full_page`` is False) or a locator."""
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


def generate_samples(page) -> None:
    """Press Generate until the sample list shows. On a busy machine a panel still filling in
    (the prefix box's answer above it) moved the button between the click's aim and the click,
    which then pressed nothing (seen twice in a full run under load: no list after 15 s)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # the suite skips without it

    names = page.locator("[data-testid=sample-list] li").first
    for _ in range(3):
        page.click("[data-testid=generate]")
        try:
            names.wait_for(timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("three presses of Generate showed no names")
