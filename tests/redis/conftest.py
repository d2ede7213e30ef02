"""Redis mode for real: a ``redis-server`` (Debian's package) on a free loopback port with no
persistence, ``microgpt-live worker`` processes, and the web server with ``--redis-url``.

Timings are shortened as Dramatiq's own tests do: a worker silent for 2 s counts as dead, and
every broker command also re-queues dead workers' slices (maintenance at the full scale).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import REPO, TEST_ENV, LiveServer, free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
FAST_FAILOVER = {
    "MICROGPT_REDIS_HEARTBEAT": "2",
    "MICROGPT_REDIS_LEASE": "1",
    "MICROGPT_REDIS_MAINTENANCE_CHANCE": "1000000",
}


class RedisServer:
    """One redis-server process; ``restart`` starts an empty one on the same port."""

    def __init__(self, workdir: Path):
        self.port, self.workdir = free_port(), workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        if not Path(REDIS_SERVER).exists():
            pytest.fail("redis-server is missing: apt-get install redis-server (make test does)")
        cmd = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # no persistence: everything in it is gone
            self.proc.wait(5)

    def restart(self) -> "RedisServer":
        self.stop()
        return self.start()


class Workers:
    """``python -m app worker --redis-url URL --processes N``: a supervisor and its children."""

    def __init__(self, url: str, processes: int, log_path: Path):
        self.url, self.processes, self.log_path = url, processes, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Workers":
        env = {**os.environ, **TEST_ENV, **FAST_FAILOVER}
        cmd = [sys.executable, "-m", "app", "worker", "--redis-url", self.url]
        cmd += ["--processes", str(self.processes)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while len(self.children()) < self.processes:
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, f"workers not up:\n{self.log()}"
            time.sleep(0.1)
        return self

    def children(self) -> list[int]:
        """The worker processes' pids (the supervisor's children)."""
        try:
            raw = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        # multiprocessing's resource tracker may be a child too: keep the spawned workers
        return [int(p) for p in raw.split() if b"spawn_main" in _cmdline(int(p))]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(45)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# One Redis, one pool of two workers and one web process for the Redis-mode modules a test
# process runs one after another (each costs seconds to start; a test that stops, kills or
# restarts one of them starts it again), stopped after the last of them: an idle worker polls
# Redis some 25 times a second (~4% of a core, and Redis ~1% for each), which over the rest of a
# session came to ~40 CPU-s a pool. Started at first use, and again if a later module needs them.
REDIS_TESTS = Path(__file__).resolve().parent
_shared: dict[str, object] = {}  # "redis", "workers", "web"


def _shared_part(name: str, start):
    if name not in _shared:
        _shared[name] = start()
    return _shared[name]


def stop_shared() -> None:
    for name in ("web", "workers", "redis"):  # the clients first, Redis last
        part = _shared.pop(name, None)
        if part is not None:
            part.stop()


@pytest.hookimpl(trylast=True)  # after the modules' own fixtures are torn down
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or REDIS_TESTS not in nextitem.path.parents:
        stop_shared()


def pytest_sessionfinish(session):
    stop_shared()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> RedisServer:
    return _shared_part("redis", lambda: RedisServer(tmp_path_factory.mktemp("redis")).start())


@pytest.fixture(scope="module")
def workers(redis_server, tmp_path_factory) -> Workers:
    return _shared_part(
        "workers",
        lambda: Workers(
            redis_server.url, 2, tmp_path_factory.mktemp("workers") / "workers.log"
        ).start(),
    )


@pytest.fixture(scope="module")
def web(redis_server, workers, tmp_path_factory) -> LiveServer:
    """The web server in Redis mode, on a fresh data dir."""
    env = {"MICROGPT_REDIS_URL": redis_server.url, **FAST_FAILOVER}
    return _shared_part("web", lambda: LiveServer(tmp_path_factory.mktemp("data"), env).start())
