"""A server under a low limit on open files (``ulimit -n``): it says so in one line at start,
holds as many event streams as the limit leaves room for, answers one more 503 with
Retry-After (naming why) while it keeps serving requests and training, and takes a new stream
as soon as another closes. Nothing is lost on the streams it holds, and nothing crashes."""

import os
import re
import socket
import time

import pytest

from tests.conftest import LiveServer

LIMIT = 160  # descriptors the server may hold in all (soft and hard)
STEPS = 20


@pytest.fixture(scope="module")
def low(tmp_path_factory):
    server = LiveServer(
        tmp_path_factory.mktemp("low-fd"), {"MICROGPT_WORKERS": "1"}, open_files=LIMIT
    )
    yield server.start()
    server.stop()


class RawStream:
    """One client's ``GET /api/events`` on a socket of its own, read only when asked."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
        self.sock.sendall(head.encode())
        self.data = b""
        self.read_until(b"\r\n\r\n")
        self.status = int(self.data.split(b" ", 2)[1])

    def read_until(self, marker: bytes, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.data:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.data += chunk
        return self.data

    def close(self) -> None:
        self.sock.close()


def open_descriptors(server: LiveServer) -> int:
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def test_a_low_open_file_limit_holds_its_streams_refuses_more_and_recovers(low):
    said = re.search(r"the open-file limit is (\d+) \(ulimit -n\): at most (\d+)", low.log())
    assert said, low.log()
    assert int(said[1]) == LIMIT
    room = int(said[2])
    assert 16 <= room < LIMIT // 2  # two descriptors a page, less what the rest needs

    start = low.state()["step"]
    streams = [RawStream(low.port) for _ in range(room)]
    try:
        assert [s.status for s in streams] == [200] * room
        extra = RawStream(low.port)
        assert extra.status == 503
        head, _, body = extra.read_until(b"}").partition(b"\r\n\r\n")
        assert b"retry-after: 2" in head.lower()
        assert b"event streams open, as many as it can hold" in body
        extra.close()

        # the server goes on: requests, and a run that starts a training process and trains
        assert low.get("/healthz").json()["status"] == "ok"
        assert low.post("/api/train", {"steps": STEPS}).status_code == 200
        low.wait_idle_at(start + STEPS)
        assert open_descriptors(low) <= LIMIT - room  # the pages' fetches had room to spare
        # nothing lost on the streams it holds: every one saw the run to its end
        for s in streams:
            seen = s.read_until(b"event: done")
            steps = [int(n) for n in re.findall(rb'event: step\r\ndata: \{"step":(\d+),', seen)]
            assert steps == list(range(start + 1, start + STEPS + 1))

        # one stream closes: a new one gets in (once the server has heard of the close)
        streams.pop().close()
        deadline = time.monotonic() + 10
        while (again := RawStream(low.port)).status != 200 and time.monotonic() < deadline:
            again.close()
            time.sleep(0.05)
        assert again.status == 200
        streams.append(again)
    finally:
        for s in streams:
            s.close()

    log = low.log()
    refusals = re.findall(r"(\d+) event streams open, the most the open-file limit (\d+)", log)
    assert refusals and refusals[0] == (str(room), str(LIMIT))
    assert "Traceback" not in log and "ERROR" not in log
