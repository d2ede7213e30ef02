"""Stuck SSE clients (connected, never reading) are reset after the send timeout; memory caps."""

import asyncio
import json
import logging
import re
import socket
import time
from pathlib import Path

import pytest

from app.bus import EVENT_OVERHEAD, Event, MemoryBus
from app.sse import StreamResponse
from app.transport import ABORT_EXTENSION
from tests.conftest import run_async

SEND_TIMEOUT = 1  # seconds (the default is 10)
STUCK_PATHS = ["/api/events", "/api/events", "/ui/events", "/ui/events"]
DROPPED = re.compile(
    r"SSE client 127\.0\.0\.1:(\d+) on (\S+) accepted nothing for (\d+\.\d) s: connection reset"
)


class StuckClient:
    """Sends the GET, reads the response headers, then never reads again. Its receive window
    and segment size are set small before connecting, so the server's kernel holds ~100 KB
    for it (not megabytes, as loopback otherwise would) and the server's writes block soon."""

    def __init__(self, port: int, path: str):
        self.path = path
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "closed before the headers"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head

    def read_to_end(self) -> str:
        """Read what is left; how the server ended the connection: "reset" or "eof"."""
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            return "reset"
        return "eof"

    def close(self) -> None:
        self.sock.close()


def server_connections(server_port: int) -> dict[int, str]:
    """The server side's TCP connections on its port: {client port: state (hex, as in
    /proc/net/tcp; 01 is ESTABLISHED)}. Loopback: both ends are in this network namespace."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, remote, state = line.split()[1:4]
            if int(local.rsplit(":", 1)[1], 16) == server_port and state != "0A":  # not LISTEN
                found[int(remote.rsplit(":", 1)[1], 16)] = state
    return found


@pytest.fixture(scope="module", params=["httptools", "h11"])
def quick_timeout_server(request, server_factory):
    server = server_factory(
        MICROGPT_SSE_SEND_TIMEOUT=str(SEND_TIMEOUT), MICROGPT_HTTP=request.param
    )
    yield server
    server.stop()


def test_resets_stuck_clients_and_keeps_serving_the_others(quick_timeout_server, open_events):
    server = quick_timeout_server
    stuck = [StuckClient(server.port, path) for path in STUCK_PATHS]
    good = open_events(server.url)
    good.wait_event("status")
    try:
        assert server.post("/api/train", {"steps": 3000}).status_code == 200
        deadline = time.monotonic() + 30
        ports = {c.port for c in stuck}
        while ports & server_connections(server.port).keys():
            assert time.monotonic() < deadline, server_connections(server.port)
            time.sleep(0.2)
        # let some steps stream after the drops too
        dropped_at = max(good.steps(), default=0)
        good.wait_for(lambda e: e.event == "step" and e.data["step"] >= dropped_at + 10)
    finally:
        assert server.post("/api/stop").status_code == 200
    first = good.named("status")[0].data["step"]
    idle = good.wait_for(
        lambda e: e.event == "status" and e.data["status"] == "idle" and e.data["step"] > first
    )
    ended = [c.read_to_end() for c in stuck]
    for c in stuck:
        c.close()

    assert good.steps() == list(range(first + 1, idle.data["step"] + 1))
    assert idle.data["step"] > first + 20
    assert ended == ["reset"] * len(stuck)
    log = server.log()
    dropped = [(int(m[1]), m[2], float(m[3])) for m in DROPPED.finditer(log)]
    assert sorted((p, path) for p, path, _ in dropped) == sorted((c.port, c.path) for c in stuck)
    assert all(SEND_TIMEOUT <= s < SEND_TIMEOUT + 5 for _, _, s in dropped), dropped
    assert "Traceback" not in log and "Exception in ASGI" not in log
    assert "without completing response" not in log


# ---------- the response without the server's abort hook, and with a fake one ----------


def stalled_send(started: list):
    async def send(message):
        if message["type"] == "http.response.body" and message.get("body"):
            started.append(message)
            await asyncio.sleep(3600)  # the client accepts nothing

    return send


async def never_disconnects():
    await asyncio.sleep(3600)


def body():
    async def events():
        yield b"data: 1\r\n\r\n"

    return events()


@pytest.mark.parametrize("hook", [False, True])
def test_drops_a_stuck_stream_with_one_log_line_with_or_without_an_abort_hook(hook, caplog):
    aborted = []
    scope = {"type": "http", "method": "GET", "path": "/api/events", "client": ("10.0.0.7", 5)}
    if hook:
        scope["extensions"] = {ABORT_EXTENSION: {"abort": lambda: aborted.append(True)}}
    response = StreamResponse(body(), ping=3600, send_timeout=0.2)
    started: list = []

    with caplog.at_level(logging.WARNING, logger="app.sse"):
        run_async(response(scope, never_disconnects, stalled_send(started)))  # no exception

    assert started and aborted == ([True] if hook else [])
    (record,) = caplog.records
    assert "SSE client 10.0.0.7:5 on /api/events accepted nothing for 0.2 s" in record.message
    assert record.exc_info is None
    assert ("connection reset" in record.message) is hook


# ---------- the replay buffer's byte cap ----------

STEP = {"step": 1, "probs": [0.123456789012345678] * 60, "doc": "emma"}


def test_encodes_an_event_once_and_parses_its_payload_again_once_released():
    event = Event(7, "step", STEP)

    assert (
        event.sse()
        == b"id: 7\r\nevent: step\r\ndata: "
        + json.dumps(STEP, separators=(",", ":")).encode()
        + b"\r\n\r\n"
    )
    assert event.data is STEP
    event.release()
    assert event.data == STEP and event.data is not STEP
    assert event.size == len(event.sse()) + EVENT_OVERHEAD


def test_caps_the_replay_buffer_in_bytes_evicting_the_oldest():
    size = Event(10**15, "step", STEP).size  # ids have 16 digits, as the bus's
    bus = MemoryBus(max_events=10_000, max_bytes=50 * size + size // 2)

    events = [bus.publish("step", STEP) for _ in range(200)]

    assert bus._bytes <= 50 * size + size // 2
    assert [e.id for e in bus._events] == [e.id for e in events[-50:]]
    assert bus.subscribe(events[-51].id).replayed is True  # the newest 50 can be replayed
    assert bus.subscribe(events[-52].id).replayed is False  # older: resync with a status


def test_closes_a_catching_up_subscriber_whose_events_were_evicted_by_the_byte_cap():
    size = Event(10**15, "step", STEP).size  # ids have 16 digits, as the bus's
    bus = MemoryBus(max_events=10_000, client_buffer=8, max_bytes=20 * size)
    first = [bus.publish("step", STEP) for _ in range(20)]
    sub = bus.subscribe(first[0].id)
    assert len(sub.drain()) == 8

    for _ in range(20):
        bus.publish("step", STEP)

    assert sub.drain() == [] and sub.dropped and sub.closed


def test_keeps_the_newest_event_even_if_it_alone_exceeds_the_byte_cap():
    bus = MemoryBus(max_events=10_000, max_bytes=100)

    event = bus.publish("step", STEP)

    assert list(bus._events) == [event]
