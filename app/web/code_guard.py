"""Codes that cannot be guessed at speed: a client's failed lookups of class codes, rejoin
codes and teacher links are counted, and after a few dozen a minute every endpoint that takes
a code answers 429 with ``Retry-After`` until the client's budget refills.

A client is both its browser identity (app.web.identity) and its peer address, each with its
own budget (settings ``code_misses_per_minute`` and ``code_misses_per_minute_per_address``):
a script that drops its cookie still has one address, and a school behind one address has
room for its students' typos. Only misses cost; a client that looks up real codes is never
refused, unless it missed too often.
"""

import time
from collections.abc import Callable

from fastapi import Request

from app.classes.codes import normal_code
from app.classes.throttle import Buckets
from app.runs.errors import TooMany


class CodeGuard:
    def __init__(
        self, per_browser: int, per_address: int, clock: Callable[[], float] = time.monotonic
    ):
        self.browsers = Buckets(per_browser, per_browser / 60, clock)
        self.addresses = Buckets(per_address, per_address / 60, clock)

    @staticmethod
    def of(request: Request) -> "CodeGuard":
        """The app's guard, made from its settings at first use."""
        state = request.app.state
        guard = getattr(state, "code_guard", None)
        if guard is None:
            s = state.settings
            guard = state.code_guard = CodeGuard(
                s.code_misses_per_minute, s.code_misses_per_minute_per_address
            )
        return guard

    @staticmethod
    def _keys(request: Request) -> tuple[str, str]:
        peer = request.client.host if request.client else ""
        return getattr(request.state, "identity", None) or "", peer

    def wait(self, request: Request) -> float:
        """Seconds before this client may look up a code again (0: now)."""
        browser, address = self._keys(request)
        return max(self.browsers.wait(browser), self.addresses.wait(address))

    def check(self, request: Request) -> None:
        """429 if this client missed too often lately."""
        wait = self.wait(request)
        if wait > 0:
            raise TooMany(
                "too many wrong class codes, rejoin codes or teacher links from this browser "
                f"or address: try again in {wait:.0f} s (check the code on the board)",
                wait,
            )

    def miss(self, request: Request) -> None:
        """This client looked up a code that is not one."""
        browser, address = self._keys(request)
        self.browsers.take(browser)
        self.addresses.take(address)

    def known(self, request: Request, code: str) -> bool:
        """Whether ``code`` is a class's, as this client may learn it: never while it is
        refused, and a miss counts."""
        if self.wait(request) > 0:
            return False
        if normal_code(code) in request.app.state.classes.classes:
            return True
        self.miss(request)
        return False


async def guard_code(request: Request) -> None:
    """A dependency of every router whose paths take ``{code}``: refused while this client is
    throttled, and a code no class has counts as a miss (the route then answers 404)."""
    code = request.path_params.get("code")
    if code is None:
        return
    guard = CodeGuard.of(request)
    guard.check(request)
    if normal_code(code) not in request.app.state.classes.classes:
        guard.miss(request)
