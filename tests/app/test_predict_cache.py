"""The prediction cache (app.predict.cache): merging, per-snapshot caching, errors, its bound,
the answers it sends without the framework; and /api/predict under concurrent requests answers
exactly what the model says, the same however it is served."""

import asyncio
import threading
import time
from types import SimpleNamespace

import httpx
import pytest
from starlette.responses import Response

from app.predict import cache as predictions
from app.predict.cache import KnownQueries, PredictionCache
from app.runs.errors import BadInput
from app.web.routes.api.predict import known_prediction
from app.web.security import CSP
from engine import Predictor
from tests.conftest import run_async


class Compute:
    """A stand-in for ``service.predict``: counts calls, can hold them until released."""

    def __init__(self, hold: bool = False):
        self.calls: list[tuple[str, int]] = []
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, snapshot: object, prefix: str, k: int):
        with self.lock:
            self.calls.append((prefix, k))
        assert self.gate.wait(10)
        if prefix == "BAD":
            raise BadInput(f"bad prefix {prefix!r}")
        return {"prefix": prefix, "k": k, "n": len(self.calls)}


def run(coro):
    return run_async(coro)


def test_concurrent_identical_requests_share_one_computation():
    async def main():
        cache, compute, snap = PredictionCache(), Compute(hold=True), object()
        tasks = [asyncio.ensure_future(cache.get(snap, "em", 5, compute)) for _ in range(30)]
        await asyncio.sleep(0.05)  # all 30 are waiting now
        compute.gate.set()
        results = await asyncio.gather(*tasks)
        assert compute.calls == [("em", 5)]
        assert all(r is results[0] for r in results)
        # answered from the cache afterwards
        assert await cache.get(snap, "em", 5, compute) is results[0]
        assert compute.calls == [("em", 5)] and cache.computed == 1

    run(main())


def test_prefix_and_k_are_separate_entries():
    async def main():
        cache, compute, snap = PredictionCache(), Compute(), object()
        await asyncio.gather(
            *(cache.get(snap, p, k, compute) for p in ("", "a", "em") for k in (3, 5) for _ in "xy")
        )
        assert sorted(compute.calls) == sorted((p, k) for p in ("", "a", "em") for k in (3, 5))
        assert len(cache) == 6

    run(main())


def test_a_new_snapshot_drops_the_cache_and_recomputes():
    async def main():
        cache, compute = PredictionCache(), Compute()
        old, new = object(), object()
        await cache.get(old, "em", 5, compute)
        await cache.get(old, "a", 5, compute)
        await cache.get(new, "em", 5, compute)
        assert compute.calls == [("em", 5), ("a", 5), ("em", 5)]
        assert len(cache) == 1  # the old snapshot's answers are gone
        await cache.get(new, "em", 5, compute)
        assert len(compute.calls) == 3

    run(main())


def test_an_answer_of_a_replaced_snapshot_is_not_cached_for_the_new_one():
    async def main():
        cache, compute = PredictionCache(), Compute(hold=True)
        old, new = object(), object()
        slow = asyncio.ensure_future(cache.get(old, "em", 5, compute))
        await asyncio.sleep(0.05)
        fresh = asyncio.ensure_future(cache.get(new, "em", 5, compute))  # not merged with old
        await asyncio.sleep(0.05)
        compute.gate.set()
        a, b = await asyncio.gather(slow, fresh)
        assert a is not b and len(compute.calls) == 2
        assert await cache.get(new, "em", 5, compute) is b

    run(main())


def test_while_training_a_new_snapshot_answers_with_the_previous_one_until_it_has_its_own():
    async def main():
        cache, old, new = PredictionCache(), object(), object()
        first = await cache.get(old, "em", 5, Compute())
        compute = Compute(hold=True)  # the new snapshot's answer takes a while
        time.sleep(0.02)  # past the hold: the new snapshot is adopted
        # not a wait: the previous snapshot's answer, while the new one is computed
        assert await cache.get(new, "em", 5, compute, hold=0.01) is first
        await asyncio.sleep(0.05)
        assert compute.calls == [("em", 5)]  # and the new one is under way
        compute.gate.set()
        await asyncio.sleep(0.05)
        fresh = await cache.get(new, "em", 5, compute, hold=0.01)
        assert fresh is not first and len(compute.calls) == 1
        # a prefix the old snapshot never answered waits for its own answer
        assert (await cache.get(new, "a", 5, compute, hold=0.01))["prefix"] == "a"

    run(main())


def test_when_not_training_a_new_snapshot_is_always_waited_for():
    async def main():
        cache, old, new = PredictionCache(), object(), object()
        first = await cache.get(old, "em", 5, Compute())
        compute = Compute(hold=True)
        pending = asyncio.ensure_future(cache.get(new, "em", 5, compute))  # hold 0: idle
        await asyncio.sleep(0.05)
        assert not pending.done()
        compute.gate.set()
        assert await pending is not first

    run(main())


def test_an_error_reaches_every_waiter_and_is_not_cached():
    async def main():
        cache, compute, snap = PredictionCache(), Compute(hold=True), object()
        tasks = [asyncio.ensure_future(cache.get(snap, "BAD", 5, compute)) for _ in range(10)]
        await asyncio.sleep(0.05)
        compute.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, BadInput) and "'BAD'" in r.detail for r in results)
        assert len(compute.calls) == 1 and len(cache) == 0
        with pytest.raises(BadInput):
            await cache.get(snap, "BAD", 5, compute)
        assert len(compute.calls) == 2  # computed again: errors are not kept

    run(main())


def test_a_cancelled_waiter_does_not_cancel_the_others():
    async def main():
        cache, compute, snap = PredictionCache(), Compute(hold=True), object()
        first = asyncio.ensure_future(cache.get(snap, "em", 5, compute))
        second = asyncio.ensure_future(cache.get(snap, "em", 5, compute))
        await asyncio.sleep(0.05)
        first.cancel()  # the client that started the computation hangs up
        await asyncio.sleep(0.01)
        compute.gate.set()
        assert (await second)["prefix"] == "em"
        assert first.cancelled() and len(compute.calls) == 1

    run(main())


def test_the_cache_is_bounded_least_recently_used_first_out():
    async def main():
        cache, compute, snap = PredictionCache(max_entries=3), Compute(), object()
        for p in ("a", "b", "c"):
            await cache.get(snap, p, 5, compute)
        await cache.get(snap, "a", 5, compute)  # "a" used again: "b" is now the oldest
        await cache.get(snap, "d", 5, compute)
        assert len(cache) == 3
        n = len(compute.calls)
        await cache.get(snap, "a", 5, compute)
        await cache.get(snap, "c", 5, compute)
        await cache.get(snap, "d", 5, compute)
        assert len(compute.calls) == n  # kept
        await cache.get(snap, "b", 5, compute)
        assert len(compute.calls) == n + 1  # evicted
        for i in range(100):
            await cache.get(snap, str(i), 5, compute)
        assert len(cache) == 3

    run(main())


def test_disabled_computes_every_request(monkeypatch):
    async def main():
        cache, compute, snap = PredictionCache(), Compute(), object()
        assert not cache.enabled
        await asyncio.gather(*(cache.get(snap, "em", 5, compute) for _ in range(5)))
        assert len(compute.calls) == 5 and len(cache) == 0

    monkeypatch.setenv("MICROGPT_PREDICT_CACHE", "0")
    run(main())
    monkeypatch.setenv("MICROGPT_PREDICT_CACHE", "1")
    assert PredictionCache().enabled


def test_the_query_strings_the_route_validated_are_remembered_bounded(monkeypatch):
    monkeypatch.setattr(predictions, "MAX_QUERIES", 3)
    cache = PredictionCache()
    assert cache.recall(b"prefix=em") is None
    for p in ("a", "b", "c", "d"):
        cache.remember(f"prefix={p}".encode(), p, 5)
    assert cache.recall(b"prefix=a") is None  # all forgotten when full: the route relearns them
    assert cache.recall(b"prefix=d") == ("d", 5)
    cache.forget(b"prefix=d")
    assert cache.recall(b"prefix=d") is None
    long = b"prefix=a&x=" + b"x" * predictions.MAX_QUERY_BYTES
    cache.remember(long, "a", 5)
    assert cache.recall(long) is None  # left to the route
    disabled = PredictionCache(enabled=False)
    disabled.remember(b"prefix=a", "a", 5)
    assert disabled.recall(b"prefix=a") is None  # no cache: every request takes the route


async def asgi_messages(app, method: str, path: str, query: bytes) -> list[dict]:
    scope = {"type": "http", "method": method, "path": path, "query_string": query}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await app({**scope, "headers": [], "app": None}, receive, send)
    return sent


def test_known_queries_sends_what_the_route_would_and_passes_the_rest_on():
    body = b'{"prefix":"em"}'
    route = Response(b"from the route", media_type="application/json")
    answers = {b"prefix=em": body}

    async def answer(app, query):
        return answers.get(query)

    known = KnownQueries(route, "/api/predict", answer)

    async def main():
        as_route = Response(body, media_type="application/json")
        assert await asgi_messages(known, "GET", "/api/predict", b"prefix=em") == (
            await asgi_messages(as_route, "GET", "/api/predict", b"prefix=em")
        )
        for method, path, query in [
            ("GET", "/api/predict", b"prefix=jo"),  # not known
            ("HEAD", "/api/predict", b"prefix=em"),
            ("POST", "/api/predict", b"prefix=em"),
            ("GET", "/api/samples", b"prefix=em"),
        ]:
            sent = await asgi_messages(known, method, path, query)
            assert sent[-1]["body"] == b"from the route", (method, path, query)

    run(main())


class FakeService:
    """What ``app.web.routes.api.predict.known_prediction`` uses of the service."""

    status = "idle"

    def __init__(self):
        self.snapshot, self.predictions, self.calls = object(), PredictionCache(), []

    def predict_json(self, snapshot, prefix: str, k: int) -> bytes:
        self.calls.append(prefix)
        if prefix == "BAD":
            raise BadInput("not in the vocabulary")
        return f'{{"prefix":"{prefix}"}}'.encode()


def test_a_known_query_is_answered_through_the_cache_and_a_failing_one_left_to_the_route():
    service = FakeService()
    app = SimpleNamespace(state=SimpleNamespace(runs=SimpleNamespace(default=service)))

    async def main():
        assert await known_prediction(app, b"prefix=em") is None  # not validated by the route
        service.predictions.remember(b"prefix=em", "em", 5)
        service.predictions.remember(b"prefix=BAD", "BAD", 5)
        assert await known_prediction(app, b"prefix=em") == b'{"prefix":"em"}'
        assert await known_prediction(app, b"prefix=em") == b'{"prefix":"em"}'
        assert await known_prediction(app, b"prefix=BAD") is None  # the route renders the 422
        assert service.calls == ["em", "BAD"]
        assert service.predictions.recall(b"prefix=BAD") is None  # and takes it from now on
        assert await known_prediction(SimpleNamespace(state=SimpleNamespace()), b"") is None

    run(main())


# ---------------------------------------------------------------- against a real server

PREFIXES = ["", "a", "em", "jo", "ma", "ka", "li", "sa", "th", "ro"]


async def burst(url: str, prefixes: list[str], k: int = 5) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        return await asyncio.gather(
            *(client.get("/api/predict", params={"prefix": p, "k": k}) for p in prefixes)
        )


def test_concurrent_predictions_match_the_model(server):
    server.post("/api/train", {"steps": 20}).raise_for_status()  # weights unlike the initial
    server.wait_idle_at(20)
    checkpoint = server.get("/api/checkpoint")
    step = int(checkpoint.headers["X-Checkpoint-Step"])
    model = Predictor.from_dict(checkpoint.json())
    assert step == 20

    prefixes = [PREFIXES[i % 10] for i in range(50)] + ["e1"] * 3
    responses = run(burst(server.url, prefixes, k=4))

    for prefix, r in zip(prefixes, responses, strict=True):
        if prefix == "e1":  # a bad prefix: every one of them is told
            assert r.status_code == 422 and "'1'" in r.json()["detail"]
            continue
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["prefix"] == prefix and body["step"] == step
        assert body["probs"] == pytest.approx(model.distribution(prefix), rel=1e-12, abs=1e-15)
        assert body["greedy"] == model.greedy(prefix)
        assert len(body["top"]) == 4
        assert body["top"][0]["prob"] == max(body["probs"])


def test_concurrent_predictions_while_training_are_consistent(server):
    server.post("/api/train", {"steps": 300}).raise_for_status()
    try:
        server.wait_for_state(lambda s: s["status"] == "training" and s["step"] >= 30)
        responses = []
        deadline = time.monotonic() + 20
        while len(responses) < 150 and time.monotonic() < deadline:
            responses += run(burst(server.url, [PREFIXES[i % 10] for i in range(50)]))
    finally:
        server.post("/api/stop")
    by_answer: dict[tuple[int, str], list[float]] = {}
    for r in responses:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["step"] >= 20
        # one step's weights give one answer per prefix, however it was served
        probs = by_answer.setdefault((body["step"], body["prefix"]), body["probs"])
        assert body["probs"] == probs


def test_a_snapshot_is_held_for_a_while_then_replaced():
    async def main():
        cache, compute = PredictionCache(), Compute()
        first, second = object(), object()
        await cache.get(first, "em", 5, compute, hold=0.2)
        # a newer snapshot within the hold: answered from the held one, no computation
        await cache.get(second, "em", 5, compute, hold=0.2)
        assert cache.computed == 1
        await asyncio.sleep(0.25)
        await cache.get(second, "em", 5, compute, hold=0.2)
        assert cache.computed == 2
        # without a hold (not training) a new snapshot is used at once
        await cache.get(first, "em", 5, compute)
        assert cache.computed == 3

    run(main())


def test_a_repeated_prediction_is_answered_as_the_first_was(server):
    """The first request is the route's; the same query string again is answered without the
    framework (app.predict.cache.KnownQueries): the same bytes, headers and checks."""
    server.post("/api/stop")  # 409 when not training: either way the snapshot stays put
    server.wait_for_state(lambda s: s["status"] != "training")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        query = {"prefix": "em", "k": 3}
        first, *again = [client.get("/api/predict", params=query) for _ in range(3)]
        assert first.status_code == 200 and first.json()["prefix"] == "em"
        assert first.headers["content-security-policy"] == CSP
        for r in again:
            assert r.status_code == 200 and r.content == first.content
            # (set-cookie: only the first visit is given an identity, app.web.identity)
            fixed = ("date", "set-cookie")
            same = [h for h in r.headers.multi_items() if h[0] not in fixed]
            assert same == [h for h in first.headers.multi_items() if h[0] not in fixed]
        # the host check stays in front of it, and a bad value still goes to the route
        foreign = client.get("/api/predict", params=query, headers={"Host": "evil.example"})
        assert foreign.status_code == 400 and foreign.headers["x-frame-options"] == "DENY"
        bad = client.get("/api/predict", params={"prefix": "em", "k": 0})
        assert bad.status_code == 422 and "k" in bad.json()["detail"]
