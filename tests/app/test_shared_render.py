"""A run's page streams share one renderer: each event rendered once, the same bytes to all."""

import asyncio
import itertools
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sse_starlette import ServerSentEvent
from starlette.requests import Request

from app.bus import Event, MemoryBus
from app.fanout import SharedRender
from app.sse import event_stream
from tests.conftest import EventStream

# ---------- the fan-out on its own (a real bus and event_stream, a counting renderer) ----------


class Counting:
    """A renderer whose messages name it and count its calls: bytes made by two renderers, or
    by one renderer twice, differ. ``renders`` gets its name at each call."""

    def __init__(self, name: str, renders: list[str]):
        self.name, self.calls, self.renders = name, 0, renders

    def __call__(self, event: Event) -> list[ServerSentEvent]:
        self.calls += 1
        self.renders.append(self.name)
        text = f"{self.name} call {self.calls}: {event.name} {event.data['n']}"
        return [ServerSentEvent(data=text, event=event.name)]


def fan_out(bus: MemoryBus) -> tuple[SharedRender, list[str]]:
    """A SharedRender whose renderers are named shared1, shared2, ... and own1, own2, ..."""
    renders: list[str] = []
    made = {"shared": itertools.count(1), "own": itertools.count(1)}

    def make(kind: str):
        return lambda: Counting(f"{kind}{next(made[kind])}", renders)

    return SharedRender(bus, shared=make("shared"), own=make("own")), renders


def request(last_event_id: int | None = None) -> Request:
    headers = [] if last_event_id is None else [(b"last-event-id", str(last_event_id).encode())]
    return Request({"type": "http", "headers": headers, "query_string": b""})


class Client:
    """One stream's body, read by hand: its messages (bytes, one per event) by event id."""

    def __init__(self, bus: MemoryBus, shared: SharedRender, last_event_id: int | None = None):
        def initial() -> Event:
            return Event(bus.last_id, "status", {"n": "now"})

        response = event_stream(request(last_event_id), bus, shared=shared, initial=initial)
        self.body = response.body_iterator
        self.messages: dict[int, bytes] = {}

    async def read(self) -> None:
        """The next chunk the stream writes, split into its messages."""
        chunk = await asyncio.wait_for(anext(self.body), 5)  # a bug fails, not hangs
        for message in chunk.split(b"\r\n\r\n"):
            if found := re.match(rb"id: (\d+)\r\n", message):
                self.messages[int(found[1])] = message

    def live(self, after: int) -> list[bytes]:
        return [m for i, m in sorted(self.messages.items()) if i > after]


def run(scenario):
    # In a thread of its own: the browser tests' Playwright keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result()


def publish(bus: MemoryBus, n: int) -> list[Event]:
    return [bus.publish("step", {"n": k}) for k in range(n)]


def test_renders_each_event_once_and_sends_every_stream_the_same_bytes():
    async def scenario():
        bus = MemoryBus()
        shared, renders = fan_out(bus)
        clients = [Client(bus, shared) for _ in range(20)]
        for c in clients:
            await c.read()  # the state it starts with: its own
        start = bus.last_id
        events = publish(bus, 30)
        for c in clients:
            await c.read()
        for c in clients:
            await c.body.aclose()
        return clients, renders, start, events, bus, shared

    clients, renders, start, events, bus, shared = run(scenario)

    live = clients[0].live(start)
    assert len(live) == 30 and b"shared" in live[0] and b"step 29" in live[-1]
    assert all(c.live(start) == live for c in clients)
    assert renders.count("shared1") == 30  # once per event, for 20 streams
    own = [r for r in renders if r.startswith("own")]
    assert len(own) == len(set(own)) == 20  # each stream renders its first state alone, once
    assert shared.renders == 30
    assert shared.streams == 0 and not bus._subs  # the last stream gone: nothing subscribed


def test_a_reconnecting_stream_renders_its_replay_alone_then_gets_the_shared_bytes():
    async def scenario():
        bus = MemoryBus()
        shared, renders = fan_out(bus)
        before = publish(bus, 5)  # nobody watches: nothing rendered
        first = Client(bus, shared)
        await first.read()
        joined = bus.last_id
        publish(bus, 5)
        await first.read()
        back = Client(bus, shared, last_event_id=before[1].id)  # missed 3 the shared never saw
        await back.read()
        publish(bus, 5)
        await first.read()
        await back.read()
        n_renders = list(renders)
        for c in (first, back):
            await c.body.aclose()
        return first, back, before, joined, n_renders

    first, back, before, joined, renders = run(scenario)

    ids = sorted(back.messages)
    assert ids[0] == before[2].id and len(ids) == 13  # the replay continues: no status, no gap
    assert [back.messages[i] for i in ids[:3]] == [
        m for m in back.messages.values() if b"own" in m
    ]  # the three the shared renderer never saw, rendered by the stream itself
    assert back.live(joined) == first.live(joined) and len(first.live(joined)) == 10
    assert renders.count("shared1") == 10


def test_starts_again_when_no_stream_drew_on_it_until_it_was_dropped():
    async def scenario():
        bus = MemoryBus(client_buffer=8)
        shared, renders = fan_out(bus)
        mark = publish(bus, 2)
        slow = Client(bus, shared, last_event_id=mark[0].id)  # catching up: one event behind
        await slow.read()  # "retry:" only: a replay continues the stream, no state first
        gap = publish(bus, 20)  # read by nobody: the shared subscription falls 20 > 8 behind
        while len(slow.messages) < 21:  # read from the replay buffer, 8 at a time
            await slow.read()
        late = publish(bus, 4)
        other = Client(bus, shared)
        await other.read()
        after = publish(bus, 3)
        await slow.read()
        await other.read()
        for c in (slow, other):
            await c.body.aclose()
        return slow, other, mark, gap, late, after, renders, bus

    slow, other, mark, gap, late, after, renders, bus = run(scenario)

    assert sorted(slow.messages) == [e.id for e in [mark[1], *gap, *late, *after]]
    assert all(b"own1" in slow.messages[e.id] for e in [mark[1], *gap])  # missed: its own
    assert all(b"shared2" in slow.messages[e.id] for e in late + after)  # started again
    assert slow.live(late[-1].id) == other.live(late[-1].id) and len(other.live(mark[1].id)) == 4
    assert renders.count("shared1") == 0 and renders.count("shared2") == 7
    assert not bus._subs


# ---------- on a real server: the pages of one run ----------


class PageStream:
    """A page's ``/ui/events`` read on a raw socket, keeping each message's bytes as sent (the
    body's chunked encoding taken off), in order."""

    def __init__(self, port: int, last_event_id: str | None = None):
        self.messages: list[tuple[int, bytes]] = []  # (id, the message's bytes)
        self._cond = threading.Condition()
        self._sock = socket.create_connection(("127.0.0.1", port))
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self._sock.sendall(
            f"GET /ui/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"{extra}\r\n".encode()
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _body(self):
        with self._sock.makefile("rb") as f:
            head = [f.readline()]
            while head[-1] not in (b"\r\n", b""):
                head.append(f.readline())
            assert b" 200 " in head[0], head
            chunked = b"transfer-encoding: chunked\r\n" in b"".join(head).lower()
            while True:
                if not chunked:
                    data = f.read1(65536)
                elif size := int(f.readline().strip() or b"0", 16):
                    data = f.read(size + 2)[:-2]  # the chunk and its CRLF
                else:
                    data = b""
                if not data:
                    return
                yield data

    def _read(self) -> None:
        buf = b""
        try:
            for chunk in self._body():
                buf += chunk
                *done, buf = buf.split(b"\r\n\r\n")
                with self._cond:
                    for message in done:
                        if found := re.search(rb"(?:^|\r\n)id: (\d+)(?:\r\n|$)", message):
                            self.messages.append((int(found[1]), message))
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass

    def wait(self, predicate, timeout: float = 30) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for message in self.messages[seen:]:
                    if predicate(message[1]):
                        return message
                seen = len(self.messages)
                assert time.monotonic() < deadline, self.messages[-3:]
                self._cond.wait(0.1)

    def between(self, lo: int, hi: int) -> list[bytes]:
        """The messages of the events after ``lo`` up to ``hi``, as sent."""
        with self._cond:
            return [m for i, m in self.messages if lo < i <= hi]

    def last_id(self) -> int:
        with self._cond:
            return self.messages[-1][0] if self.messages else 0

    def steps(self) -> list[int]:
        with self._cond:
            return [int(re.search(rb'"step": ?(\d+)', m)[1]) for _, m in self.messages if point(m)]

    def close(self) -> None:
        self._sock.close()


def point(message: bytes) -> bool:
    return b"event: point\r\n" in message


def step_point(step: int):
    return lambda m: point(m) and re.search(rb'"step": ?%d\b' % step, m) is not None


def test_every_page_of_a_run_gets_the_same_bytes_whenever_it_joined(server):
    first = PageStream(server.port)
    first.wait(lambda m: True)  # the state it starts with
    start = server.state()["step"]
    pages: list[tuple[int, PageStream]] = []  # (the id it is live after, the page)
    try:
        assert server.post("/api/train", {"steps": 300}).status_code == 200
        for k in (30, 90, 150, 210):  # pages open during the run, each at another moment
            first.wait(step_point(start + k))
            page = PageStream(server.port)
            pages.append((page.wait(lambda m: True)[0], page))  # its state: rendered alone
        first.wait(step_point(start + 300))
        # a page that lost its connection at step 10 comes back: its replay, the same bytes
        back_from = first.wait(step_point(start + 10))[0]
        pages.append((back_from, PageStream(server.port, last_event_id=str(back_from))))
        server.wait_idle_at(start + 300)
        time.sleep(0.5)  # the run's last events reach the first page
        end = first.last_id()
        deadline = time.monotonic() + 10
        while any(page.last_id() < end for _, page in pages) and time.monotonic() < deadline:
            time.sleep(0.05)

        assert first.steps() == list(range(start + 1, start + 301))
        for after, page in pages:
            sent = page.between(after, end)
            assert sent == first.between(after, end), after
            # it saw the run go on, whenever a busy machine let it connect (the last ~step 210)
            assert sum(map(point, sent)) >= 10 and sum(b"hx-partial" in m for m in sent) >= 1
    finally:
        first.close()
        for _, page in pages:
            page.close()


def test_pages_reconnecting_at_once_with_no_page_open_each_get_the_steps_they_missed(
    server, fresh_run
):
    """A class whose Wi-Fi blinked: pages come back with an id from mid-run, and no page was
    open to warm the shared renderer, so each replays with a renderer of its own. Each gets
    every step it missed once, in order, as the same bytes (each point encoded once for all),
    and the fragments of the run's end, not those of every step it passes (templates the next
    step replaces: 500 pages x 200 steps of them stalled a server for seconds). A run of its
    own: no page of it was ever open."""
    ids = EventStream(server.url)
    try:
        start = server.state()["step"]
        server.train(60)
        mid = ids.wait_event("step", step=start + 30).id
    finally:
        ids.close()
    pages = [PageStream(server.port, last_event_id=mid) for _ in range(30)]
    try:
        for page in pages:
            page.wait(step_point(start + 60))
            page.wait(lambda m: b'hx-target="#status"' in m)  # the run's end: idle
        assert all(page.steps() == list(range(start + 31, start + 61)) for page in pages)
        points = [[m for _, m in page.messages if point(m)] for page in pages]
        assert all(sent == points[0] for sent in points)
        for page in pages:
            passed = {i for i, m in page.messages if point(m) and not step_point(start + 60)(m)}
            fragments = [i for i, m in page.messages if b"hx-partial" in m]
            assert fragments and not passed & set(fragments)
    finally:
        for page in pages:
            page.close()
