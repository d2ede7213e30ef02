"""Real servers for tests: ``python -m app`` on loopback, one data dir each.

Fixtures (stable: the browser tests use them too):

- ``live_server`` (session): base URL of the shared server, e.g. http://127.0.0.1:PORT (a module
  whose tests need its default run fresh uses ``server`` too)
- ``server`` (module): the session's shared server (``shared_server``) with a fresh run of the
  module's own, made the default run (the unprefixed ``/api/...`` paths act on it). A module
  that restarts or kills its server, lists every run or reads its data dir overrides it with
  ``own_server`` (a fresh server of the module's own); settings of its own: ``server_factory``.
- ``fresh_run`` (function): a fresh default-settings run on ``server``, made the default run.
- ``server_factory`` (session): ``server_factory(data_dir=None, **env)`` starts another server and
  returns a ``LiveServer`` with ``.url``, ``.stop()``, ``.kill()``, ``.start()``, ``.restart()``,
  ``.train(steps)`` (a run, waited for) and ``.wait_idle_at(step)``; every server is stopped at
  the end of the session.
- ``open_events`` (function): ``open_events(url, last_event_id=None)`` connects an
  ``EventStream`` to ``/api/events`` that collects events in a thread; closed after the test.
  ``connect_events`` is the same for module/session fixtures (closed at the session's end).
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import httpx._transports.default as httpx_transport
import pytest

from app.contract.events import Probe, StepEvent
from app.web.assets import VERSIONED
from tests.server_zygote import limit_open_files

REPO = Path(__file__).resolve().parent.parent
# Compiled steps (engine.code_cache) in the checkout, not the user's cache: every server,
# forkserver and worker of the suite shares it (make clean removes it with .pytest_cache/).
os.environ.setdefault("MICROGPT_CACHE_DIR", str(REPO / ".pytest_cache" / "compiled-steps"))


# httpx builds a new SSL context, reading the whole CA bundle, for every client, and so for
# every ``httpx.get``: ~20 ms of CPU for a request to loopback that never uses it. The tests
# make thousands (every poll of a run's state), so the default context is built once.
_create_ssl_context = httpx_transport.create_ssl_context
_shared_ssl_contexts: dict[bool, object] = {}


def _ssl_context_once(verify=True, cert=None, trust_env=True):
    if verify is not True or cert is not None:
        return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
    if trust_env not in _shared_ssl_contexts:
        _shared_ssl_contexts[trust_env] = _create_ssl_context(trust_env=trust_env)
    return _shared_ssl_contexts[trust_env]


httpx_transport.create_ssl_context = _ssl_context_once
TEST_ENV = {
    "MICROGPT_SSE_PING": "1",
    "MICROGPT_LOG_LEVEL": "warning",
    # the suite is one client making hundreds of runs: the quotas (tests/app/test_fair_shares.py
    # sets its own) would refuse it
    "MICROGPT_RUNS_PER_IDENTITY": "100000",
    "MICROGPT_RUNS_PER_MINUTE": "100000",
    "MICROGPT_CLASSES_PER_IDENTITY": "100000",
}


class AssetLinks(HTMLParser):
    """Collects every src= and href= in a page."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in {"src", "href"} and value]


def static_assets(html: str, base: str) -> list[str]:
    """Same-origin /static/... URLs the page references (url_for gives absolute URLs)."""
    parser = AssetLinks()
    parser.feed(html)
    origin = urlsplit(base).netloc
    assets = []
    for link in parser.links:
        url = urlsplit(urljoin(base + "/", link))
        if url.netloc == origin and url.path.startswith("/static/"):
            assets.append(url.path + (f"?{url.query}" if url.query else ""))
    return sorted(set(assets))


def unversioned(path: str) -> str:
    """/static/v-<version>/x as /static/x (app.web.assets: the page links its files versioned)."""
    return re.sub(rf"^/static/{VERSIONED.pattern}/", "/static/", path)


def run_async(coro):
    """``asyncio.run(coro)`` on a thread of its own: the browser tests' Playwright keeps an event
    loop running on the main thread for the rest of the session, so a test that runs after them
    (in any order) cannot start one there."""
    result = {}

    def run():
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as e:  # noqa: BLE001 - raised again on the test's thread
            result["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def step_event(step: int, loss: float = 1.0, **fields) -> StepEvent:
    """A worker's StepEvent for tests without a worker: a two-position step of "em", with
    ``fields`` overriding any of these."""
    return StepEvent(
        **{
            "step": step,
            "run_step": step,
            "run_steps": 2,
            "total": 2,
            "loss": loss,
            "lr": 0.01,
            "doc": "em",
            "tokens": ["[BOS]", "e", "m", "[BOS]"],
            "target_probs": [0.5, 0.5, 0.5],
            "grad_norm": 1.0,
            "step_time": 0.01,
            "steps_per_sec": 50.0,
            "elapsed": 0.1,
            "eta": 0.0,
            "probes": [Probe(prefix="e", probs=[0.25, 0.75])],
            "health": [],
            "t": 0.0,
            **fields,
        }
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Zygote:
    """tests/server_zygote.py: the process this test process forks its servers from (one
    import of the app for all of them, instead of ~0.6 CPU-s each). Started at first use."""

    _lock = threading.Lock()
    _proc: subprocess.Popen | None = None

    @classmethod
    def ask(cls, request: dict) -> dict:
        with cls._lock:
            if cls._proc is None or cls._proc.poll() is not None:
                cls._proc = subprocess.Popen(
                    [sys.executable, str(REPO / "tests" / "server_zygote.py")],
                    cwd=REPO,
                    env={**os.environ, **TEST_ENV},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            cls._proc.stdin.write(json.dumps(request).encode() + b"\n")
            cls._proc.stdin.flush()
            line = cls._proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the server zygote exited with {cls._proc.wait()}")
            return json.loads(line)


class ForkedServer:
    """A server forked by the zygote, with the part of ``subprocess.Popen`` the tests use."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path, open_files=None):
        start = {"argv": args, "env": env, "cwd": str(cwd), "log": str(log)}
        if open_files is not None:
            start["open_files"] = open_files
        self.args = args
        self.pid: int = Zygote.ask({"start": start})["pid"]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = Zygote.ask({"poll": self.pid})["returncode"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class LiveServer:
    """One ``python -m app`` process; start/stop/kill/restart keep the port and data dir.
    ``cwd``: the tree whose code it serves (``python -m app`` imports the ``app`` there); this
    tree's servers are forked from the ``Zygote`` (MICROGPT_TEST_ZYGOTE=0: started afresh).
    ``open_files``: started with that limit on open files (``ulimit -n``)."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
        open_files: int | None = None,
    ):
        self.data_dir, self.cwd = Path(data_dir), cwd
        self.open_files = open_files  # its limit on open files (``ulimit -n``), if not ours
        self.port = free_port()
        self.env = {**os.environ, **TEST_ENV, **(env or {})}
        self.proc: subprocess.Popen | ForkedServer | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "LiveServer":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.cwd == REPO and os.environ.get("MICROGPT_TEST_ZYGOTE", "1") != "0":
            self.proc = ForkedServer(args, self.env, self.cwd, self.log_path, self.open_files)
        else:
            limit = None
            if self.open_files is not None:
                limit = partial(limit_open_files, self.open_files)
            with open(self.log_path, "ab") as log:
                cmd = [sys.executable, "-m", "app", *args]
                self.proc = subprocess.Popen(
                    cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=log, preexec_fn=limit
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, as Ctrl-C or ``docker stop`` would; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise RuntimeError(f"server did not stop within {timeout}s:\n{self.log()}") from None

    def kill(self) -> None:
        """SIGKILL the web process (a crash): nothing gets to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> "LiveServer":
        self.stop()
        return self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    # small conveniences for tests

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, json_body=None, **kw) -> httpx.Response:
        return httpx.post(self.url + path, json=json_body, timeout=30, **kw)

    def state(self) -> dict:
        return self.get("/api/state").json()

    def wait_for_state(self, predicate, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if predicate(state):
                return state
            time.sleep(0.05)
        raise AssertionError(f"state never matched; last: {state}")

    def stop_all(self) -> "LiveServer":
        """Stop every run that is training or waiting for a worker (so the next test's run
        gets one at once)."""
        for run in self.get("/api/runs").json()["runs"]:
            if run["status"] in ("training", "queued"):
                # 409: it finished meanwhile; 403: a class student's (tests/app/test_classes.py)
                assert self.post(f"/api/runs/{run['id']}/stop").status_code in (200, 403, 409)
        return self

    def new_run(self, **settings) -> dict:
        """A fresh run (default settings unless given: as a new server's first run), made the
        default run, with nothing else training (so it gets a worker at once)."""
        self.stop_all()
        response = self.post("/api/runs", settings)
        assert response.status_code == 201, response.text
        return response.json()

    def wait_idle_at(self, step: int, timeout: float = 30) -> dict:
        """Wait until the model is idle at ``step`` (a run of it has finished)."""
        return self.wait_for_state(lambda s: s["status"] == "idle" and s["step"] == step, timeout)

    def train(self, steps: int) -> "LiveServer":
        """Train a run of ``steps`` from the current step and wait for it to finish."""
        start = self.state()["step"]
        r = self.post("/api/train", {"steps": steps})
        assert r.status_code == 200, r.text
        self.wait_idle_at(start + steps)
        return self


@dataclass
class SSE:
    id: str | None
    event: str
    data: dict


class EventStream:
    """Reads ``/api/events`` in a thread; ``events`` grows as messages arrive."""

    def __init__(self, url: str, last_event_id: str | None = None, path: str = "/api/events"):
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.events: list[SSE] = []
        self.comments = 0
        self.closed = False
        self._cond = threading.Condition()
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=None))
        self._response = self._client.send(
            self._client.build_request("GET", f"{url}{path}", headers=headers),
            stream=True,
        )
        assert self._response.status_code == 200
        assert self._response.headers["content-type"].startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self._response.iter_lines():
                if self.closed:
                    break
                if line == "":
                    if "data" in fields:
                        event = SSE(fields.get("id"), fields.get("event", "message"), {})
                        event.data = json.loads(fields["data"])
                        with self._cond:
                            self.events.append(event)
                            self._cond.notify_all()
                    fields = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    key, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if key == "data" and "data" in fields:
                        value = fields["data"] + "\n" + value
                    fields[key] = value
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def named(self, name: str) -> list[SSE]:
        with self._cond:
            return [e for e in self.events if e.event == name]

    def steps(self) -> list[int]:
        return [e.data["step"] for e in self.named("step")]

    def wait_for(self, predicate, timeout: float = 30) -> SSE:
        """The first event (already received or coming) for which predicate(event) is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    names = [e.event for e in self.events[-10:]]
                    raise AssertionError(f"no matching event (closed={self.closed}; last {names})")
                self._cond.wait(left)

    def wait_event(self, name: str, timeout: float = 30, **fields) -> SSE:
        return self.wait_for(
            lambda e: e.event == name and all(e.data.get(k) == v for k, v in fields.items()),
            timeout,
        )

    def close(self) -> None:
        self.closed = True
        self._response.close()
        self._client.close()


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory):
    servers: list[LiveServer] = []

    def make(data_dir: Path | None = None, **env: str) -> LiveServer:
        server = LiveServer(data_dir or tmp_path_factory.mktemp("data"), env)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        try:
            server.stop()
        except RuntimeError:
            server.kill()


@pytest.fixture(scope="session")
def shared_server(server_factory) -> LiveServer:
    """One default-settings server for every module that works on runs of its own."""
    return server_factory()


@pytest.fixture(scope="module")
def server(shared_server):
    """The shared server, its default run a fresh one of the module's own (a fresh server
    costs seconds to start and stop; a fresh run, milliseconds)."""
    shared_server.new_run()
    yield shared_server
    shared_server.stop_all()


@pytest.fixture(scope="module")
def own_server(server_factory):
    """A fresh server of the test module's own, on a new data dir, stopped after the module."""
    server = server_factory()
    yield server
    server.stop()


@pytest.fixture
def fresh_run(server) -> dict:
    """A fresh run on ``server`` for this test alone, made the default run."""
    return server.new_run()


@pytest.fixture(scope="session")
def live_server(shared_server) -> str:
    return shared_server.url


def _stream_opener():
    streams: list[EventStream] = []

    def connect(url: str, last_event_id: str | None = None) -> EventStream:
        stream = EventStream(url, last_event_id)
        streams.append(stream)
        return stream

    yield connect
    for stream in streams:
        stream.close()


open_events = pytest.fixture(_stream_opener)
connect_events = pytest.fixture(scope="session")(_stream_opener)


# The slowest files first (seconds of a serial run, 2026-12-07, rounded), so that `make test`'s
# two processes, which take whole files from one queue, do not end with one of them alone on a
# long file (xdist runs with --no-loadscope-reorder to keep this order). Unlisted files follow in
# collection order.
SLOWEST_FILES = (
    "tests/redis/test_redis_mode.py",  # ~60 s, mostly waiting for workers and leases
    "tests/browser/test_page_features.py",
    "tests/redis/test_supervisor.py",
    "tests/browser/test_runs_page.py",
    "tests/browser/test_live_page.py",
    "tests/browser/test_graph_panel.py",
    "tests/browser/test_classroom.py",
    "tests/browser/test_accessibility.py",
    "tests/app/test_runs.py",
    "tests/browser/test_time_travel.py",
    "tests/packaging/test_wheel.py",
    "tests/engine/test_reference_figures.py",
    "tests/app/test_persistence.py",
    "tests/browser/test_lesson.py",
    "tests/app/test_hardening.py",
    "tests/redis/test_classes_redis.py",
    "tests/browser/test_no_lost_work.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(SLOWEST_FILES)}
    root = config.rootpath

    def key(item) -> int:
        return rank.get(item.path.relative_to(root).as_posix(), len(rank))

    items.sort(key=key)  # stable: each file's tests keep their order
