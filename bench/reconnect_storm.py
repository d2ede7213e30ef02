"""A class whose Wi-Fi blinked: 500 page streams reconnecting at once during training.

    .venv/bin/python bench/reconnect_storm.py [--pages 500] [--behind 2] [--window 10]
                                              [--repo DIR]

Starts ``python -m app`` (loopback, temporary data dir), trains the default run (seed 42,
10,000 steps at full speed) and measures, for ``--window`` seconds each:

- **none**: no page open: the run's steps/s (from ``/api/state``), and the latencies of
  ``/healthz`` and of an API call (``/api/state``), asked in turn every 20 ms on a kept-alive
  connection;
- **storm**: ``--pages`` page streams (``GET /ui/events``) opened at once, each sending the
  ``Last-Event-ID`` of an event ``--behind`` seconds old (as a browser's EventSource does
  after a blink), then read as fast as they come: the same steps/s and ``/healthz`` figures,
  and per page the time from the storm's start to its first message (**served**) and whether
  its ``point`` events hold every step once, in order, from the first after its id's (a
  replay) or from the state it was sent instead (further behind than a page's replay bound:
  the page reloads its curves) (**nothing lost**).

The pages and the probe run in this process (one asyncio loop, raw sockets: a few tens of
microseconds a message) on the same cores as the server and its trainer, so the figures
include that. Bars (issue 29): every page served within 10 s, ``/healthz`` and the API p99
under 200 ms.
"""

import argparse
import asyncio
import re
import tempfile
import time

import _support
import httpx

POINT_RE = re.compile(rb'event: point\r\ndata: \{"step": (\d+),')
STEP_ID_RE = re.compile(rb'id: (\d+)\r\nevent: step\r\ndata: \{"step":(\d+),')
SEP = b"\r\n\r\n"


class Page(asyncio.Protocol):
    """One page's stream: when its first bytes and its first event came, and the steps of
    its points."""

    def __init__(self, request: bytes, t0: float):
        self.request, self.t0 = request, t0
        self.answered: float | None = None
        self.first: float | None = None
        self.steps: list[int] = []
        self.buf = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.answered is None:
            self.answered = time.monotonic() - self.t0
        head, _, self.buf = (self.buf + data).rpartition(SEP)
        if self.first is None and b"\r\nid: " in head:
            self.first = time.monotonic() - self.t0
        self.steps += [int(s) for s in POINT_RE.findall(head)]


class Ids(asyncio.Protocol):
    """``/api/events``: (monotonic time, id, step) of every step event."""

    def __init__(self, request: bytes):
        self.request, self.seen, self.buf = request, [], b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        head, _, self.buf = (self.buf + data).rpartition(SEP)
        now = time.monotonic()
        self.seen += [(now, int(i), int(s)) for i, s in STEP_ID_RE.findall(head)]


def get(host: str, port: int, path: str, last_id: int | None = None) -> bytes:
    resume = f"Last-Event-ID: {last_id}\r\n" if last_id is not None else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n{resume}\r\n"
    ).encode()


async def step_now(host: str, port: int) -> int:
    user = await _support.User(host, port).open()
    _, body = await user.get("/api/state")
    user.close()
    return int(re.search(rb'"step":(\d+)', body)[1])


async def measure(url: str, window: float) -> dict:
    """steps/s, and the latencies (ms) of /healthz and of an API call (/api/state), asked in
    turn, over ``window`` seconds."""
    host, port = url.removeprefix("http://").split(":")
    user = await _support.User(host, int(port)).open()
    step0 = await step_now(host, int(port))
    t0, lat, api = time.monotonic(), [], []
    while time.monotonic() - t0 < window:
        for path, into in (("/healthz", lat), ("/api/state", api)):
            start = time.perf_counter()
            status, _ = await user.get(path)
            assert status == 200
            into.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.02)
    step1 = await step_now(host, int(port))
    user.close()
    return {"steps_s": (step1 - step0) / (time.monotonic() - t0), "lat": lat, "api": api}


async def storm(url: str, pages: int, behind: float, window: float) -> dict:
    host, port = url.removeprefix("http://").split(":")
    port = int(port)
    loop = asyncio.get_running_loop()
    _, ids = await loop.create_connection(lambda: Ids(get(host, port, "/api/events")), host, port)
    await asyncio.sleep(max(behind, 0) + 1)
    cut = time.monotonic() - max(behind, 0)
    _, last_id, last_step = max((e for e in ids.seen if e[0] <= cut), key=lambda e: e[1])
    ids.transport.close()
    t0 = time.monotonic()
    request = get(host, port, "/ui/events", last_id if behind >= 0 else None)

    async def open_page() -> Page:
        _, page = await loop.create_connection(lambda: Page(request, t0), host, port)
        return page

    opening = asyncio.gather(*(open_page() for _ in range(pages)), return_exceptions=True)
    figures = await measure(url, window)
    opened = [p for p in await opening if isinstance(p, Page)]
    for page in opened:
        page.transport.close()
    served = sorted(p.first for p in opened if p.first is not None)
    answered = sorted(p.answered for p in opened if p.answered is not None)
    lost = replayed = 0
    for page in opened:  # every step once, in order, from the replay's first or the state's
        first = page.steps[0] if page.steps else 0
        lost += page.steps != list(range(first, first + len(page.steps))) or not page.steps
        replayed += first == last_step + 1
    return {
        **figures,
        "opened": len(opened),
        "answered": answered,
        "served": served,
        "lost": lost,
        "replayed": replayed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    # seconds behind the pages' Last-Event-ID is (-1: none, new pages)
    parser.add_argument("--behind", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--repo", default=None, help="another checkout to measure too")
    args = parser.parse_args()
    for repo in [_support.REPO] + ([args.repo] if args.repo else []):
        with tempfile.TemporaryDirectory() as data:
            proc, url = _support.start_server(data, repo)
            try:
                with httpx.Client(base_url=url, timeout=30) as client:
                    _support.fresh_model(client)
                    client.post("/api/train", json={"steps": 10_000}).raise_for_status()
                    none = asyncio.run(measure(url, args.window))
                    hit = asyncio.run(storm(url, args.pages, args.behind, args.window))
                    client.post("/api/stop")
            finally:
                proc.terminate()
                proc.wait(30)
        report(str(repo), args, none, hit)


def report(repo: str, args, none: dict, hit: dict) -> None:
    pct = _support.pct
    served = hit["served"]
    print(f"{repo}: {args.pages} pages reconnecting {args.behind:g} s behind")
    print(f"  steps/s: {none['steps_s']:.1f} with no page, {hit['steps_s']:.1f} in the storm")
    for path, key in (("/healthz", "lat"), ("/api/state", "api")):
        for name, lat in (("no page", none[key]), ("storm", hit[key])):
            print(
                f"  {path} ({name}): p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, "
                f"max {max(lat):.1f} ms ({len(lat)} asked)"
            )
    for name, times in (
        ("answered (first bytes)", hit["answered"]),
        ("served (first event)", served),
    ):
        in_time = sum(t <= args.window for t in times)
        last = f"{times[-1]:.2f} s" if times else "-"
        print(
            f"  {name}: {in_time} of {args.pages} pages ({hit['opened']} connected) within "
            f"{args.window:g} s, {len(times)} in all; p50 {pct(times, 50):.2f} s, "
            f"p99 {pct(times, 99):.2f} s, last {last}"
        )
    print(
        f"  pages missing or repeating a step: {hit['lost']}; replayed from their id: "
        f"{hit['replayed']} (the others started from the state, as a page does further behind)"
    )


if __name__ == "__main__":
    main()
