"""What the bench scripts share: this checkout on the import path, a server on a free port,
a raw HTTP/1.1 client, the textbook engine, and timing and memory helpers.

Each script is run as ``python bench/<name>.py``, which puts bench/ first on the import path:
``import _support`` finds this file, and importing it puts the checkout next, so ``engine``,
``app`` and ``tests`` are this tree's even where another checkout is installed in the venv.
"""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))

SEED = 42  # the default run's
PREFIXES = ["", "a", "em", "jo", "ma", "ka", "li", "sa", "th", "ro"]  # what users ask


def textbook():
    """The textbook engine (microgpt's own code, engine.reference) on the names, seed 42."""
    from engine import load_names
    from engine.reference import ReferenceGPT

    return ReferenceGPT(load_names())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, log: Path | None = None) -> None:
    """Wait until ``url``/healthz answers (30 s); a server that exits or never answers ends
    the benchmark, with its command (and its ``log``, if it writes one)."""
    for _ in range(300):
        if proc.poll() is not None:
            break
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    said = f":\n{log.read_text(errors='replace')}" if log else ""
    raise SystemExit(f"server did not start: {' '.join(map(str, proc.args))}{said}")


def start_server(
    data_dir: str, repo: Path = REPO, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """``python -m app`` run in ``repo`` (which puts that checkout's ``app`` and ``engine``
    first on the import path), with ``env`` added to the environment."""
    port = free_port()
    env = {
        **os.environ,
        "MICROGPT_LOG_LEVEL": "warning",
        "MICROGPT_CLIENT_BUFFER": "4096",
        # a benchmark is one client making run after run: no quota of one person's (a reset
        # keeps the run it came from)
        "MICROGPT_RUNS_PER_IDENTITY": "100000",
        "MICROGPT_RUNS_PER_MINUTE": "100000",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "app", "--port", str(port), "--data-dir", data_dir]
    proc = subprocess.Popen(cmd, cwd=repo, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url)
    return proc, url


def wait_idle(client: httpx.Client, url: str = "", timeout: float = 120) -> dict:
    """The state once the default run is idle; ``url``: empty for a client with a base URL."""
    deadline = time.monotonic() + timeout
    while (s := client.get(url + "/api/state").json())["status"] != "idle":
        if time.monotonic() > deadline:
            raise SystemExit(f"server stuck in {s['status']}")
        time.sleep(0.05)
    return s


def fresh_model(client: httpx.Client) -> dict:
    """The same default model every run (seed 42, a new run: step 0); its idle state."""
    wait_idle(client)
    client.post("/api/reset", json={"seed": SEED}).raise_for_status()
    return wait_idle(client)


class User:
    """One user: a kept-alive HTTP/1.1 connection, requests written and read by hand.

    httpx costs ~1.4 ms of CPU per request, more than the server's cached answer; on a 2-core
    machine whose other core trains, that CPU comes out of the server's share and its latency.
    A raw connection costs a few tens of microseconds, so the figures are the server's."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    async def open(self) -> "User":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def trainer_cpu(pid: int | None) -> float:
    """``cpu_seconds`` of a training process, 0 when there is none or it is gone."""
    try:
        return cpu_seconds(pid) if pid else 0.0
    except OSError:
        return 0.0


class TrainerWatch(threading.Thread):
    """Reads the training process's CPU seconds every 50 ms until ``stop`` is set (``pid``, or
    the server's ``worker_pid`` once training starts): the process ends soon after its run
    (``worker_pid`` turns None), so its CPU is read while it lives. Its own client: httpx's
    is not shared across threads."""

    def __init__(self, url: str, pid: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.pid, self.stop, self.cpu = url, pid, threading.Event(), 0.0

    def run(self) -> None:
        pid = self.pid
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.wait(0.05):
                pid = pid or client.get("/api/state").json()["worker_pid"]
                self.cpu = max(self.cpu, trainer_cpu(pid))
        self.cpu = max(self.cpu, trainer_cpu(pid))  # once more at the stop, if it lives


def rss_mb(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def print_table(rows: list[dict], cols: list[tuple[str, str, str]], first: str) -> None:
    """Rows of a benchmark's conditions: ``first`` names each row (key "condition"), then one
    column per (key, title, format), right-aligned under its title."""
    width = max(len(first), *(len(r["condition"]) for r in rows))
    print(f"  {first:<{width}} " + " ".join(title for _, title, _ in cols))
    for r in rows:
        cells = (f"{r[key]:>{len(title)}{fmt}}" for key, title, fmt in cols)
        print(f"  {r['condition']:<{width}} " + " ".join(cells))
