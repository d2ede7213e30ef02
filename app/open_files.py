"""Open files: every connection, page stream, pipe to a training process and database file
holds one of the process's file descriptors, and the operating system caps how many.

A page stream holds its descriptor for as long as the page is open, so streams are what can
use them all up: then ``accept()`` fails (uvloop's libuv closes each new connection at once,
silently) and so would a training process's pipes or a database file. So:

- at start the soft limit is raised to the hard one (as far as ``WANTED``), as servers do; if it
  is still low, one line says how many page streams fit and how to raise it;
- streams are admitted up to ``StreamGate.cap``: the limit less ``reserve(workers)`` kept for
  everything else, ``PER_PAGE`` descriptors a page (its stream, and its fetches' connection);
  one more is answered 503 with ``Retry-After`` (a page's stream retries by itself, and gets
  in when another closes), and one line is logged (at most every ``LOG_EVERY`` seconds)
  naming the numbers.
"""

import logging
import time

from fastapi import HTTPException

try:
    import resource
except ImportError:  # Windows: no RLIMIT_NOFILE (the C runtime's limit is not a descriptor one)
    resource = None

log = logging.getLogger(__name__)

# descriptors asked for at start (far more than 500 pages need), or the first of these the
# system takes (macOS reports no hard limit but caps it at kern.maxfilesperproc)
WANTED = (65_536, 24_576, 10_240, 4_096)
PER_PAGE = 2  # a page's stream, and the kept-alive connection of its fetches meanwhile
LOW = 1_024  # below this many page streams, the start says so
BASE_RESERVE = 96  # the database and its journal, logs, the listening socket, ~64 requests
PER_WORKER = 8  # a training process's pipes and its sentinel, with room to restart it
RETRY_AFTER = 2  # seconds a refused stream is told to wait
LOG_EVERY = 10.0  # seconds between two lines about refused streams


def open_file_limit() -> tuple[int | None, int | None]:
    """The soft and hard limits on open files, raised soft to hard (at most ``WANTED``) if it
    is lower; (None, None) where the platform has no such limit."""
    if resource is None:
        return None, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinite = resource.RLIM_INFINITY
    for wanted in WANTED:
        wanted = wanted if hard == infinite else min(hard, wanted)
        if soft == infinite or soft >= wanted:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
            break
        except (ValueError, OSError):  # refused (a sandbox, a kernel cap): ask for less
            continue
    return (None if soft == infinite else soft), (None if hard == infinite else hard)


def reserve(workers: int) -> int:
    """Descriptors kept for what is not a page stream, with ``workers`` training processes."""
    return BASE_RESERVE + PER_WORKER * workers


class StreamGate:
    """How many event streams are open, and at most how many may be (``cap``)."""

    def __init__(self, cap: int, why: str):
        self.cap, self.why = cap, why  # why: what sets the cap, for the log
        self.open = 0
        self.refused = 0  # since the last line logged about it
        self._logged_at = 0.0

    @classmethod
    def for_limit(cls, limit: int | None, workers: int, setting: int | None) -> "StreamGate":
        """The gate for an open-file ``limit`` (None: none), ``workers`` training processes
        and the ``max_streams`` setting (None: as many as the limit allows), saying at start
        if the limit leaves room for fewer than ``LOW`` streams."""
        room = None if limit is None else max(1, (limit - reserve(workers)) // PER_PAGE)
        if setting is not None and (room is None or setting <= room):
            return cls(setting, "max_streams (MICROGPT_MAX_STREAMS)")
        if room is None:
            return cls(10**9, "no limit")
        if room < LOW:
            log.warning(
                "the open-file limit is %d (ulimit -n): at most %d page streams at once, then"
                " new ones wait; raise the limit (ulimit -n %d, or the service's LimitNOFILE)"
                " for more",
                limit,
                room,
                LOW * PER_PAGE + reserve(workers),
            )
        return cls(room, f"the open-file limit {limit}")

    def admit(self) -> None:
        """Count one more stream, or raise 503 (with ``Retry-After``) if ``cap`` are open."""
        if self.open >= self.cap:
            self.refused += 1
            now = time.monotonic()
            if now - self._logged_at >= LOG_EVERY:
                more = f"; {self.refused} refused since the last such line" * (self.refused > 1)
                log.warning(
                    "%d event streams open, the most %s allows: new ones are answered 503 and"
                    " their pages retry%s",
                    self.open,
                    self.why,
                    more,
                )
                self._logged_at, self.refused = now, 0
            raise HTTPException(
                503,
                f"this server has {self.open} event streams open, as many as it can hold: "
                f"retry in {RETRY_AFTER} s",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        self.open += 1

    def release(self) -> None:
        self.open -= 1
