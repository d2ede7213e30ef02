"""Web-process memory over a long run, with no SSE clients and with stuck ones, side by side.

    .venv/bin/python bench/stream_memory.py [--steps 5000] [--clients 20] [--plain]

For each scenario a fresh ``python -m app`` (loopback, temporary data dir, default settings:
send timeout 10 s, replay cap 8 MiB / 25,000 events, client buffer 1024) trains ``--steps``
steps (POST /api/train). "stuck" opens ``--clients`` raw connections first, half on
/api/events and half on /ui/events, that send the GET, read the response headers and never
read again (default socket buffers, like a frozen browser tab). The web process's VmRSS is
sampled every 0.2 s; VmHWM (its peak) is read at the end, ``--settle`` s after the run (so a
write blocked at its end has timed out), when its connections on the port are also counted.
``--plain`` adds the stuck scenario under plain uvicorn (``uvicorn app.main:create_app
--factory``: no abort hook); ``--repo DIR`` serves another checkout's code (e.g. ``git archive
HEAD``) for a before/after comparison. Each scenario is bounded by ``--timeout`` seconds (the
run is stopped there and the row marked).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _support import REPO, free_port, wait_ready


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid``, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def established(port: int) -> int:
    """Server-side ESTABLISHED TCP connections on ``port`` (loopback: both ends are here)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _, state = line.split()[1:4]
            n += int(local.rsplit(":", 1)[1], 16) == port and state == "01"
    return n


def start(repo: Path, data_dir: str, plain: bool) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    env = {**os.environ, "MICROGPT_LOG_LEVEL": "warning", "MICROGPT_DATA_DIR": data_dir}
    if plain:
        cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
        cmd += ["--port", str(port), "--log-level", "warning", "--timeout-graceful-shutdown", "5"]
    else:
        cmd = [sys.executable, "-m", "app", "--port", str(port), "--data-dir", data_dir]
    log_path = Path(data_dir) / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=log, stderr=log)
    wait_ready(proc, f"http://127.0.0.1:{port}", log_path)
    return proc, port, log_path


def stuck_client(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit("stuck client: closed before the headers")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"stuck client: {head.splitlines()[0]!r}")
    return sock


def ended(sock: socket.socket) -> str:
    """How the server ended a stuck connection: reset, eof, or still open."""
    sock.setblocking(False)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        return "reset"
    except BlockingIOError:
        return "open"
    return "eof"


def scenario(
    name: str, repo: Path, steps: int, clients: int, plain: bool, timeout: float, settle: float
):
    with tempfile.TemporaryDirectory() as data_dir:
        proc, port, log_path = start(repo, data_dir, plain)
        url = f"http://127.0.0.1:{port}"
        socks: list[socket.socket] = []
        try:
            paths = ["/api/events", "/ui/events"]
            socks = [stuck_client(port, paths[i % 2]) for i in range(clients)]
            time.sleep(0.5)
            before = proc_status(proc.pid)
            samples = [before["VmRSS"]]
            with httpx.Client(base_url=url, timeout=30) as http:
                http.post("/api/train", json={"steps": steps}).raise_for_status()
                started = time.monotonic()
                finished = True
                while (state := http.get("/api/state").json())["status"] == "training":
                    samples.append(proc_status(proc.pid)["VmRSS"])
                    if time.monotonic() - started > timeout:
                        http.post("/api/stop")
                        finished = False
                        break
                    time.sleep(0.2)
                elapsed = time.monotonic() - started
                done = http.get("/api/state").json()["step"]
            time.sleep(settle if clients else 1)  # a write blocked at the end times out
            after = proc_status(proc.pid)
            conns = established(port)
            endings = [ended(s) for s in socks]
        finally:
            for s in socks:
                s.close()
            proc.terminate()
            proc.wait(30)
        log = log_path.read_text(errors="replace")
    return {
        "name": name,
        "steps": done,
        "finished": finished,
        "rate": done / elapsed,
        "rss_start": before["VmRSS"],
        "rss_peak": max(samples),
        "hwm": after["VmHWM"],
        "rss_end": after["VmRSS"],
        "conns": conns,
        "reset": endings.count("reset"),
        "open": endings.count("open"),
        "eof": endings.count("eof"),
        "log_resets": log.count("connection reset"),
        "tracebacks": log.count("Traceback"),
        "state": state["status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per scenario")
    parser.add_argument("--settle", type=float, default=12, help="seconds after the run")
    parser.add_argument("--plain", action="store_true", help="also: stuck, plain uvicorn")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to serve")
    args = parser.parse_args()

    runs = [("no clients", 0, False), (f"{args.clients} stuck", args.clients, False)]
    if args.plain:
        runs.append((f"{args.clients} stuck, plain uvicorn", args.clients, True))
    results = []
    for name, clients, plain in runs:
        print(f"... {name}", file=sys.stderr, flush=True)
        results.append(
            scenario(name, args.repo, args.steps, clients, plain, args.timeout, args.settle)
        )

    rows = [
        ("steps trained", lambda r: f"{r['steps']}" + ("" if r["finished"] else " (timeout)")),
        ("steps/s", lambda r: f"{r['rate']:.1f}"),
        ("VmRSS at start, MiB", lambda r: f"{r['rss_start']:.1f}"),
        ("VmRSS peak (sampled), MiB", lambda r: f"{r['rss_peak']:.1f}"),
        ("VmHWM, MiB", lambda r: f"{r['hwm']:.1f}"),
        ("VmRSS at end, MiB", lambda r: f"{r['rss_end']:.1f}"),
        ("ESTABLISHED on port at end", lambda r: f"{r['conns']}"),
        ("stuck: reset/eof/open, read at end", lambda r: f"{r['reset']}/{r['eof']}/{r['open']}"),
        ("'connection reset' log lines", lambda r: f"{r['log_resets']}"),
        ("tracebacks in log", lambda r: f"{r['tracebacks']}"),
    ]
    width = max(len(r[0]) for r in rows)
    col = max(14, *(len(r["name"]) for r in results))
    print(f"\nweb-process memory over {args.steps} steps ({os.cpu_count()} cores, {args.repo})\n")
    print(" " * (width + 2) + "".join(f"{r['name']:>{col + 2}}" for r in results))
    for label, fmt in rows:
        print(f"{label:<{width}}  " + "".join(f"{fmt(r):>{col + 2}}" for r in results))
    base = results[0]
    for r in results[1:]:
        print(
            f"\nratio {r['name']} / {base['name']}: VmHWM {r['hwm'] / base['hwm']:.2f}x,"
            f" VmRSS at end {r['rss_end'] / base['rss_end']:.2f}x"
        )


if __name__ == "__main__":
    main()
