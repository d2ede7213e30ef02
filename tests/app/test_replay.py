"""Replay past the per-client buffer, event ids across restarts (clock stepping back), history."""

import asyncio
import os
import socket
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.bus import MemoryBus
from app.contract.api import HistoryOut
from app.settings import Settings
from app.store import HistoryRow, Store
from tests.conftest import EventStream

SMALL_BUFFER = "8"  # the least a client may lag (settings: ge=8)


@pytest.fixture(scope="module")
def small_buffer_server(server_factory):
    server = server_factory(MICROGPT_CLIENT_BUFFER=SMALL_BUFFER)
    yield server
    server.stop()


# Set before connecting: a small receive window and segment size keep the kernels from holding
# much in flight (on loopback they would otherwise buffer megabytes), like a slow link.
SLOW_LINK = [
    (socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
    (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536),
]


class StalledStream(EventStream):
    """A client on a slow link that reads nothing for ``stall`` seconds after connecting (a
    laptop waking up, a train leaving a tunnel), then reads as fast as it can."""

    def __init__(self, port: int, last_event_id: str, stall: float):
        self.events, self.comments, self.closed = [], 0, False
        self._cond = threading.Condition()
        self._sock = socket.socket()
        for option in SLOW_LINK:
            self._sock.setsockopt(*option)
        self._sock.connect(("127.0.0.1", port))
        self._sock.sendall(
            b"GET /api/events HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            b"Last-Event-ID: " + last_event_id.encode() + b"\r\n\r\n"
        )
        self._stall = stall
        self._response = self  # EventStream._read reads self._response.iter_lines()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def iter_lines(self):
        time.sleep(self._stall)
        try:
            with self._sock.makefile("rb") as body:
                status = body.readline()
                assert b" 200 " in status, status
                while body.readline() not in (b"\r\n", b""):
                    pass  # headers
                for line in body:
                    yield line.decode().rstrip("\r\n")
        except OSError:
            pass

    def close(self) -> None:
        self.closed = True
        self._sock.close()


@pytest.fixture
def open_stalled():
    streams: list[StalledStream] = []

    def connect(port: int, last_event_id: str, stall: float = 1.0) -> StalledStream:
        streams.append(StalledStream(port, last_event_id, stall))
        return streams[-1]

    yield connect
    for stream in streams:
        stream.close()


def follow_to_done(first: EventStream, url: str, open_events, timeout: float = 60) -> list:
    """What an EventSource sees: ``first``'s events, then, each time the server drops the client
    (it fell more than the client buffer behind live, as a busy machine's reader may), those
    of a reconnection from the last id it got, until ``done``."""
    streams, deadline = [first], time.monotonic() + timeout
    while True:
        try:
            streams[-1].wait_event("done", timeout=max(0.1, deadline - time.monotonic()))
            return streams
        except AssertionError:
            ids = [e.id for s in streams for e in s.events if e.id]
            if not streams[-1].closed or time.monotonic() > deadline or not ids:
                raise
            streams.append(open_events(url, last_event_id=ids[-1]))


def test_replays_more_events_than_the_client_buffer_then_goes_live_while_training(
    small_buffer_server, open_events, open_stalled
):
    server = small_buffer_server
    watcher = open_events(server.url)
    watcher.wait_event("status")
    assert server.post("/api/train", {"steps": 400}).status_code == 200
    step5 = watcher.wait_event("step", step=5)
    # a replay ~25 times the client buffer (the watcher itself may be dropped for lagging
    # once it is 8 events behind, as any reader on a busy machine: the state says it)
    server.wait_for_state(lambda s: s["step"] >= 200)

    # reconnect while training goes on: one client reads at once, one stalls first
    late = [open_events(server.url, last_event_id=step5.id), open_stalled(server.port, step5.id)]
    for first in late:
        streams = follow_to_done(first, server.url, open_events)
        # the first connection got the whole replay, 195 events past a buffer of 8
        assert first.steps()[:195] == list(range(6, 201))
        assert first.events[0].event == "step"  # the replay continues the stream: no status
        events = [e for stream in streams for e in stream.events]
        assert [e.data["step"] for e in events if e.event == "step"] == list(range(6, 401))
        ids = [int(e.id) for e in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] == int(step5.id) + 1


# -- event ids across restarts ---------------------------------------------------------------

CLOCK_SHIFT = """
    import os, time
    _shift = int(os.environ.get("MICROGPT_TEST_CLOCK_SHIFT_NS", "0"))
    if _shift:
        _time_ns = time.time_ns
        time.time_ns = lambda: _time_ns() + _shift
"""


@pytest.fixture
def skewable_server(server_factory, tmp_path):
    """A server whose wall clock the test can step back (a sitecustomize on PYTHONPATH)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(CLOCK_SHIFT))
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    server = server_factory(tmp_path / "data", PYTHONPATH=path)
    yield server
    server.stop()


def ids_of_a_short_run(server, open_events, steps: int = 30) -> list[int]:
    stream = open_events(server.url)
    stream.wait_event("status")
    assert server.post("/api/train", {"steps": steps}).status_code == 200
    stream.wait_event("done")
    stream.wait_for(lambda e: e.event == "status" and e.data["status"] == "idle")
    return [int(e.id) for e in stream.events]


def first_id_after_restart(server, open_events, last_event_id: str) -> tuple[int, str]:
    stream = open_events(server.url, last_event_id=last_event_id)
    first = stream.wait_for(lambda e: True)
    return int(first.id), first.event


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_issues_ids_above_every_earlier_one_after_a_restart_with_the_clock_set_back(
    skewable_server, open_events, how
):
    server = skewable_server
    before = ids_of_a_short_run(server, open_events)
    if how == "stop":
        server.stop()
    else:  # a crash: the ids issued since the last checkpoint were never written down
        assert server.post("/api/train", {"steps": 2000}).status_code == 200
        stream = open_events(server.url, last_event_id=str(before[-1]))
        stream.wait_for(lambda e: e.event == "step" and e.data["step"] % 25 == 10)
        before += [int(e.id) for e in stream.events]
        server.kill()

    server.env["MICROGPT_TEST_CLOCK_SHIFT_NS"] = str(-3600 * 10**9)  # an hour back
    server.start()
    first_id, name = first_id_after_restart(server, open_events, str(before[-3]))

    assert first_id > max(before)
    assert name == "status"  # an id from before the restart is unknown: resync, not replay
    later = ids_of_a_short_run(server, open_events, steps=5)
    assert min(later) > max(before)


# -- /api/history ------------------------------------------------------------------------------

LONG = 50_000  # points: ~100 ms to build and serialise


@pytest.fixture(scope="module")
def long_history_server(server_factory, tmp_path_factory):
    """A server whose model has a loss curve of LONG points (written into its database)."""
    server = server_factory(tmp_path_factory.mktemp("long"))
    server.stop()
    store = Store(Settings(data_dir=server.data_dir).db_path)
    try:
        model = store.default_run()
        data = store.latest_checkpoint(model).data
        rows = [
            HistoryRow(s, None, 3 / s**0.1, 3 / s**0.1 + 0.01, 0.01) for s in range(1, LONG + 1)
        ]
        store.save_checkpoint(model, LONG, None, data, "test", rows)
    finally:
        store.close()
    server.start()
    yield server
    server.stop()


def test_serves_only_the_points_after_since(long_history_server):
    server = long_history_server
    full = HistoryOut.model_validate(server.get("/api/history").json())
    assert [p.step for p in full.points] == list(range(1, LONG + 1))

    part = HistoryOut.model_validate(server.get("/api/history", params={"since": 49_990}).json())
    past_end = HistoryOut.model_validate(server.get("/api/history?since=50000").json())

    assert part.points == full.points[-10:]
    assert part.model == full.model and part.segments == full.segments
    assert past_end.points == [] and past_end.model == full.model
    assert server.get("/api/history", params={"since": -1}).status_code == 422


# -- the bus on its own ------------------------------------------------------------------------


def test_closes_a_catching_up_subscriber_whose_events_were_evicted_and_resyncs_it():
    async def scenario():
        bus = MemoryBus(max_events=100, client_buffer=8)
        first = bus.publish("step", {"step": 1})
        slow = bus.subscribe(first.id)  # 0 events behind: live at once
        for step in range(2, 20):
            bus.publish("step", {"step": step})
        assert slow.dropped  # a live subscriber 18 > 8 events behind

        late = bus.subscribe(first.id)  # catching up: 18 events, more than its buffer
        assert [e.data["step"] for e in await late.next_batch()] == list(range(2, 10))
        for step in range(20, 200):
            bus.publish("step", {"step": step})  # evicts step 10 before it was sent
        assert await late.next_batch() == [] and late.dropped

        again = bus.subscribe(first.id + 9)
        return again.replayed

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        replayed = pool.submit(asyncio.run, scenario()).result()
    assert replayed is False  # unknown id: the stream starts with a status
