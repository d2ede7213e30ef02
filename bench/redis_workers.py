"""Redis mode: a class of simulated students trained on 1 and on 2 worker processes.

    .venv/bin/python bench/redis_workers.py [--students 30] [--steps 200] [--rounds 1]

Per condition (1 worker process, then 2; alternated for ``--rounds``): a fresh ``redis-server``
(loopback, no persistence), ``python -m app worker --processes N``, and the web server with
``--redis-url`` on a temporary data dir. A teacher makes a class of ``--steps`` steps, the
students join (each with their own cookie: their own run), the teacher presses Train all; every
run's event stream (``/api/runs/{id}/events``) is read from before the start. Timed from Train
all until every run is idle at its last step.

Checked, per run: its stream had every step from 1 to ``--steps`` once and in order, and its
history too. Reported: the wall time per condition and the ratio 1 worker / 2 workers (on this
2-core machine expect about 2x less the web process's share of the cores), and the steps per
second all runs together.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import _support  # noqa: F401  (this checkout on the import path: the tests' harness)
import httpx

from tests.conftest import LiveServer
from tests.redis.conftest import RedisServer, Workers

SEP = b"\r\n\r\n"


class Stream(asyncio.Protocol):
    """A run's event stream, read until its step ``last``: ``steps`` in arrival order. Cheap
    (a protocol, no HTTP client): the readers share the machine's two cores with the workers.
    Chunk-size lines fall between messages: no de-chunking needed."""

    def __init__(self, request: bytes, last: int):
        self.request, self.last = request, last
        self.steps: list[int] = []
        self.buf = b""
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        *messages, self.buf = (self.buf + data).split(SEP)
        for message in messages:
            if b"event: step\r\n" in message:
                data_line = message.rpartition(b"data: ")[2]
                self.steps.append(json.loads(data_line)["step"])
        if self.steps and self.steps[-1] >= self.last and not self.done.done():
            self.done.set_result(self.steps)
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(self.steps)


class Readers:
    """Every run's stream, in one asyncio loop on a thread of its own."""

    def __init__(self, port: int, runs: list[int], last: int):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.streams = asyncio.run_coroutine_threadsafe(self._open(port, runs, last), self.loop)
        self.streams = self.streams.result(30)

    async def _open(self, port, runs, last):
        loop, streams = asyncio.get_running_loop(), []
        for run in runs:
            request = (
                f"GET /api/runs/{run}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
            _, stream = await loop.create_connection(
                lambda request=request: Stream(request, last), "127.0.0.1", port
            )
            streams.append(stream)
        return streams

    def wait(self, timeout: float) -> list[list[int]]:
        async def every():
            return await asyncio.gather(*(s.done for s in self.streams))

        return asyncio.run_coroutine_threadsafe(every(), self.loop).result(timeout)


def idle_at(web, run: int, steps: int) -> bool:
    state = web.get(f"/api/runs/{run}/state").json()
    assert state["status"] not in ("failed", "diverged"), state
    return state["status"] == "idle" and state["step"] == steps


def run_class(students: int, steps: int, processes: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        redis = RedisServer(tmp).start()
        workers = Workers(redis.url, processes, tmp / "workers.log").start()
        web = LiveServer(tmp / "data", {"MICROGPT_REDIS_URL": redis.url}).start()
        try:
            teacher = httpx.Client(base_url=web.url, timeout=60)
            teacher.get("/")
            made = teacher.post("/api/classes", json={"name": "Bench", "preset": {"steps": steps}})
            code = made.raise_for_status().json()["code"]
            runs = []
            for i in range(students):
                with httpx.Client(base_url=web.url, timeout=60) as student:
                    student.get("/")
                    joined = student.post(f"/api/classes/{code}/join", json={"name": f"S{i}"})
                    runs.append(joined.raise_for_status().json()["run"])
            readers = Readers(web.port, runs, steps)
            time.sleep(0.5)  # each stream has its first state
            started = time.monotonic()
            teacher.post(f"/api/classes/{code}/train").raise_for_status()
            received = readers.wait(timeout=600)
            wall = time.monotonic() - started
            for run, got in zip(runs, received, strict=True):
                assert got == list(range(1, steps + 1)), f"run {run}'s stream: {got[:5]}..."
                web.wait_for_state(lambda _, run=run: idle_at(web, run, steps), timeout=30)
                points = web.get(f"/api/runs/{run}/history").json()["points"]
                assert [p["step"] for p in points] == list(range(1, steps + 1)), f"run {run}"
            return wall
        finally:
            web.stop()
            workers.stop()
            redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    walls: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for processes in (1, 2):
            wall = run_class(args.students, args.steps, processes)
            walls[processes].append(wall)
            total = args.students * args.steps
            print(
                f"{processes} worker process(es): {args.students} runs x {args.steps} steps in "
                f"{wall:.1f} s ({total / wall:.0f} steps/s), every stream complete and in order",
                flush=True,
            )
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    print(f"median wall: 1 worker {one:.1f} s, 2 workers {two:.1f} s: {one / two:.2f}x faster")


if __name__ == "__main__":
    main()
