"""Predictions under load: a per-snapshot cache that also merges identical requests in flight.

Why: a prediction is ~5-15 ms of pure Python (the greedy completion runs the model up to 8
times) and holds the GIL, so 50 concurrent ``/api/predict`` calls on the web process's one core
queue behind each other (p99 ~430 ms while training). But the answer depends only on the weight
snapshot, the prefix and k, and the snapshot changes only every ``snapshot_every`` steps; so:

- answers are kept per snapshot in a small LRU keyed by (prefix, k), dropped wholesale as soon
  as a request sees a newer snapshot (the Predictor object itself is the key: every snapshot,
  reload or new model is a new object, which a step number alone would not tell apart);
- a request for an answer being computed awaits that computation instead of starting another;
- while training, a snapshot is kept for at least ``hold`` seconds (0.25 s: the rate the page
  redraws at) before a newer one replaces it: at full speed the worker sends one every ~40 ms,
  and recomputing every prefix that often is what made the latency. The answer says which
  step's weights gave it; when not training the newest snapshot is always used at once;
- while training, a prefix the new snapshot has not answered yet gets the previous snapshot's
  answer at once (its step says so) while the new one is computed: else every prefix asked
  recomputes at the same moment and the requests queue behind ~5 ms each of them.

The computation runs in a thread, as before; it is shielded, so a client that hangs up does not
cancel it for the others waiting on it. Errors (e.g. BadInput for a bad prefix) reach every
waiter of that computation and are not cached: a bad prefix fails fast anyway.

Serving an answer, though, costs more than finding it: FastAPI's routing, dependencies, query
validation and response wrapping take ~0.4 ms of CPU per request (2-core VM), and under 50
concurrent requests that CPU is the latency. So the route ``remember``s each raw query string
it has parsed and validated, with the (prefix, k) it read from it, and ``KnownQueries``, a pure
ASGI middleware, answers that same string again through the same ``get`` without the framework
(~0.2 ms per request, mostly uvicorn's). Anything else (a new query string, ``step=``, an error
to render) goes to the route as before; the security middleware, outside it, checks and marks
every request.

``MICROGPT_PREDICT_CACHE=0`` (or ``false``/``off``) turns the cache, the merging and the known
query strings off (every request computes, as before); read when the cache is created, i.e.
once per server. The benchmark ``bench/predict_load.py`` uses it to compare both.
"""

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")
MAX_ENTRIES = 256
MAX_QUERIES = 1024  # query strings remembered (all forgotten when full: cheap to relearn)
MAX_QUERY_BYTES = 256  # longer ones are left to the route: bounded memory


def cache_enabled() -> bool:
    """False if ``MICROGPT_PREDICT_CACHE`` is 0, false, off or no."""
    value = os.environ.get("MICROGPT_PREDICT_CACHE", "1").strip().lower()
    return value not in ("0", "false", "off", "no")


class PredictionCache(Generic[T]):
    """``await get(snapshot, prefix, k, compute)``: ``compute(snapshot, prefix, k)``'s answer,
    computed in a thread at most once per (snapshot, prefix, k) while it stays cached.

    Use it from one event loop (no locks: there is no await between a lookup and its update).
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, enabled: bool | None = None):
        self.max_entries = max_entries
        self.enabled = cache_enabled() if enabled is None else enabled
        self._snapshot: object = None  # held, so its id is never reused while we key by it
        self._adopted = 0.0  # when it became the cached snapshot (time.monotonic)
        self._done: OrderedDict[tuple[str, int], T] = OrderedDict()  # LRU: oldest first
        self._stale: dict[tuple[str, int], T] = {}  # the previous snapshot's answers
        self._running: dict[tuple[str, int], asyncio.Future[T]] = {}
        self._queries: dict[bytes, tuple[str, int]] = {}  # raw query string -> (prefix, k)
        self.computed = 0  # how many computations ran (for tests and curiosity)

    async def get(
        self,
        snapshot: object,
        prefix: str,
        k: int,
        compute: Callable[[Any, str, int], T],
        hold: float = 0.0,
    ) -> T:
        """``hold``: seconds the cached snapshot is kept before ``snapshot`` replaces it."""
        if not self.enabled:
            self.computed += 1
            return await run_in_threadpool(compute, snapshot, prefix, k)
        now = time.monotonic()
        if snapshot is not self._snapshot:
            if self._snapshot is not None and now - self._adopted < hold:
                snapshot = self._snapshot  # still fresh enough: answer from it
            else:  # a new snapshot: nothing of the old one applies
                self._snapshot, self._adopted = snapshot, now
                self._stale = dict(self._done) if hold > 0 else {}
                self._done.clear()
                self._running = {}  # computations under way finish for their own waiters only
        key = (prefix, k)
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key]
        future = self._running.get(key)
        if future is None:
            self.computed += 1
            future = asyncio.ensure_future(run_in_threadpool(compute, snapshot, prefix, k))
            running = self._running
            running[key] = future
            future.add_done_callback(lambda f: self._finish(snapshot, running, key, f))
        if hold > 0 and key in self._stale:
            # while training, the previous snapshot's answer (its step says which) rather than
            # a wait: a new snapshot would otherwise make every prefix recompute at once
            return self._stale[key]
        return await asyncio.shield(future)

    def remember(self, query: bytes, prefix: str, k: int) -> None:
        """The raw query string ``query`` asks for (prefix, k): said by the route once it has
        parsed and validated it, so ``KnownQueries`` may answer that string again."""
        if not self.enabled or len(query) > MAX_QUERY_BYTES:
            return
        if len(self._queries) >= MAX_QUERIES and query not in self._queries:
            self._queries.clear()  # a bound against endless distinct strings
        self._queries[query] = (prefix, k)

    def recall(self, query: bytes) -> tuple[str, int] | None:
        """The (prefix, k) the route read from ``query``, if it said."""
        return self._queries.get(query)

    def forget(self, query: bytes) -> None:
        self._queries.pop(query, None)

    def _finish(
        self,
        snapshot: object,
        running: dict[tuple[str, int], Any],
        key: tuple[str, int],
        future: asyncio.Future[T],
    ) -> None:
        running.pop(key, None)
        if future.cancelled() or future.exception() is not None:  # also marks it retrieved
            return
        if snapshot is self._snapshot:  # else the answer is of a snapshot already dropped
            self._done[key] = future.result()
            while len(self._done) > self.max_entries:
                self._done.popitem(last=False)

    def __len__(self) -> int:
        return len(self._done)


class KnownQueries:
    """Pure ASGI middleware: a ``GET path`` is answered by ``answer(app, query_string)`` when
    that returns a body (JSON), sent with the headers the route's ``Response`` would send; a
    None, and every other request, goes on to the app."""

    def __init__(
        self, app: ASGIApp, path: str, answer: Callable[[Any, bytes], Awaitable[bytes | None]]
    ):
        self.app, self.path, self.answer = app, path, answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "GET":
            body = await self.answer(scope["app"], scope["query_string"])
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        # as starlette's Response(body, media_type="application/json")
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
