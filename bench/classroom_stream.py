"""A classroom on one link: a run watched by 300 page streams against none, and their lag.

    .venv/bin/python bench/classroom_stream.py [--pages 300] [--steps 500] [--rounds 5]
                                               [--repo DIR]

Starts ``python -m app`` (loopback, temporary data dir) and trains the same default run
(``POST /api/reset {"seed": 42}``, then ``--steps`` at full speed) with no page open and with
``--pages`` pages, alternating (none, pages, none, pages, ... ``--rounds`` each, after a warm-up
run), timed from ``POST /api/train`` until ``/api/state`` says idle. A page is its stream:
``GET /ui/events`` held open and read as fast as it comes (HTML fragments a few times a second
and a JSON ``point`` event per step); what a browser fetches besides (``/ui/predict`` on
``model-updated``, the Parameters panel's frames) is not emulated.

The pages run in a process of their own (this script with the hidden ``--readers`` flag: one
asyncio loop, raw sockets), which also reads ``/api/events``, whose ``step`` events carry ``t``,
the Unix time the worker ended the step. A page's **lag** for a step is the time its ``point``
event arrived minus that ``t``; every page must receive every step once, in order. The readers
share the machine's cores with the web process and the trainer, so the lag includes that.

Reported per condition (medians over the rounds): the run's wall time and its ratio pages /
none (bar: at most 15% slower), the web process's CPU seconds per run and its resident memory
(VmRSS, peak during the run), and for the pages the lag's p50 / p99 / max over every page and
step (bar: p99 <= 250 ms). ``--repo DIR`` runs the same rounds against another checkout too
(e.g. ``git worktree add /tmp/before HEAD``), one server after the other.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _support import (
    REPO,
    cpu_seconds,
    fresh_model,
    pct,
    print_table,
    rss_mb,
    start_server,
    trainer_cpu,
)

RATIO_BAR = 1.15
LAG_BAR_MS = 250.0
POINT_RE = re.compile(rb'event: point\r\ndata: \{"step": (\d+),')
STEP_RE = re.compile(rb'"step":(\d+),')
T_RE = re.compile(rb'"t":([0-9.e+-]+)')
SEP = b"\r\n\r\n"


# ---- the readers (in their own process: --readers) ----


def request(host: str, port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()


class Page(asyncio.Protocol):
    """A page's stream, read until the point of step ``last``: ``seen``, [(step, arrival)].
    A protocol, not a stream reader: the load generator should cost little (its CPU is the
    machine's too). The body's chunk-size lines fall between messages: no de-chunking."""

    def __init__(self, request: bytes, last: int, started: Callable[[], None]):
        self.request, self.last, self.started = request, last, started
        self.seen: list[tuple[int, float]] = []
        self.buf, self.begun, self.bytes = b"", False, 0
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.bytes += len(data)
        head, _, self.buf = (self.buf + data).rpartition(SEP)
        if not self.begun and b"\r\nid: " in head:  # the state it starts with
            self.begun = True
            self.started()
        self.seen += [(int(step), now) for step in POINT_RE.findall(head)]
        if self.seen and self.seen[-1][0] >= self.last:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(self.seen)


async def open_stream(host: str, port: int, path: str):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request(host, port, path))
    await writer.drain()
    return reader, writer


async def read_api(host: str, port: int, last: int, ended: asyncio.Event, times: dict):
    """``/api/events``: each step's end time ``t``, until step ``last``."""
    reader, writer = await open_stream(host, port, "/api/events")
    buf = b""
    try:
        while chunk := await reader.read(65536):
            *messages, buf = (buf + chunk).split(SEP)
            for message in messages:
                if b"event: step\r\n" in message:
                    step = int(STEP_RE.search(message)[1])
                    times[step] = float(T_RE.search(message)[1])
                    if step >= last:
                        ended.set()
                        return
    finally:
        writer.close()


async def readers_main(url: str, pages: int, first: int, last: int) -> None:
    """Open the pages and the API stream, print ``ready`` once each page has its first state,
    read until every page has step ``last`` (or 20 s after the API stream had it), then print
    what each page received, and this process's CPU time, as JSON."""
    host, port = url.removeprefix("http://").split(":")
    ready, ended, n_ready, times = asyncio.Event(), asyncio.Event(), [pages], {}

    def started() -> None:
        n_ready[0] -= 1
        if not n_ready[0]:
            ready.set()

    api = asyncio.create_task(read_api(host, int(port), last, ended, times))
    loop, get = asyncio.get_running_loop(), request(host, int(port), "/ui/events")
    opened = []
    for _ in range(pages):
        _, page = await loop.create_connection(lambda: Page(get, last, started), host, int(port))
        opened.append(page)
    tasks = [page.done for page in opened]
    await asyncio.wait_for(ready.wait(), 120)
    for page in opened:
        page.bytes = 0  # from the run's start
    cpu0 = time.process_time()
    print("ready", flush=True)
    await asyncio.wait_for(ended.wait(), 600)
    done, pending = await asyncio.wait(tasks, timeout=20)
    for page in opened:
        page.transport.close()
    await api
    expected = list(range(first + 1, last + 1))
    out = {"complete": 0, "lags": [], "cpu": time.process_time() - cpu0}
    out["bytes"] = statistics.mean(page.bytes for page in opened)
    for task in tasks:
        seen = task.result() if task in done else []  # in time, or not complete
        out["complete"] += [s for s, _ in seen] == expected
        out["lags"] += [round((t - times[s]) * 1000, 2) for s, t in seen if s in times]
    print(json.dumps(out), flush=True)


class Readers:
    """The readers' process, seen from the benchmark: open, then what they received."""

    def __init__(self, url: str, pages: int, first: int, last: int):
        cmd = [sys.executable, __file__, "--readers", url, "--pages", str(pages)]
        cmd += ["--first", str(first), "--last", str(last)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise SystemExit("the pages did not open")

    def results(self) -> dict:
        out, _ = self.proc.communicate(timeout=120)
        if self.proc.returncode != 0:
            raise SystemExit(f"the readers failed (exit {self.proc.returncode})")
        return json.loads(out)


# ---- runs ----


@dataclass
class Run:
    wall: float  # seconds, POST /api/train -> idle seen
    elapsed: float  # the segment's own training time (its ``elapsed``)
    web_cpu: float
    trainer_cpu: float  # the worker's CPU seconds (as last seen while training)
    rss_before: float  # MB
    rss_peak: float
    readers: dict | None = None


@dataclass
class Server:
    name: str
    repo: Path
    url: str = ""
    pid: int = 0
    runs: dict[int, list[Run]] = field(default_factory=dict)


def run(server: Server, steps: int, pages: int) -> Run:
    """A fresh default model (seed 42), ``pages`` pages opened on it, ``steps`` trained."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        first = fresh_model(client)["step"]
        readers = Readers(server.url, pages, first, first + steps) if pages else None
        rss_before = rss_peak = rss_mb(server.pid)
        web0 = cpu_seconds(server.pid)
        t0 = time.perf_counter()
        s = client.post("/api/train", json={"steps": steps}).raise_for_status().json()
        worker, work0, work = s["worker_pid"], trainer_cpu(s["worker_pid"]), 0.0
        while (s := client.get("/api/state").json())["status"] != "idle":
            rss_peak = max(rss_peak, rss_mb(server.pid))
            work = trainer_cpu(worker) or work
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        web = cpu_seconds(server.pid) - web0
        work = (trainer_cpu(worker) or work) - work0
    if s["step"] != first + steps:
        raise SystemExit(f"the run did not finish: step {s['step']}, not {first + steps}")
    got = readers.results() if readers else None
    return Run(wall, s["segment"]["elapsed"], web, work, rss_before, rss_peak, got)


def row(name: str, runs: list[Run], pages: int) -> dict:
    lags = [lag for r in runs if r.readers for lag in r.readers["lags"]]
    med = statistics.median
    return {
        "condition": name,
        "runs": len(runs),
        "wall": med(r.wall for r in runs),
        "elapsed": med(r.elapsed for r in runs),
        "web_cpu": med(r.web_cpu for r in runs),
        "trainer_cpu": med(r.trainer_cpu for r in runs),
        "rss_before": med(r.rss_before for r in runs),
        "rss_peak": med(r.rss_peak for r in runs),
        "readers_cpu": med(r.readers["cpu"] for r in runs) if pages else 0.0,
        "kb": med(r.readers["bytes"] for r in runs) / 1024 if pages else 0.0,
        "complete": f"{sum(r.readers['complete'] for r in runs)}/{pages * len(runs)}"
        if pages
        else "-",
        "p50": statistics.median(lags) if lags else float("nan"),
        "p99": pct(lags, 99),
        "max": max(lags, default=float("nan")),
    }


def report(args, servers: list[Server], load: float) -> dict:
    print(f"\nA classroom on one link: {args.steps}-step runs, none vs {args.pages} page streams")
    print(
        f"({os.cpu_count()} cores, load average {load:.1f} -> {os.getloadavg()[0]:.1f}; "
        f"alternating, {args.rounds} runs each; readers in their own process)\n"
    )
    cols = [
        ("runs", "runs", "d"),
        ("wall", "wall s", ".2f"),
        ("elapsed", "elapsed s", ".2f"),
        ("web_cpu", "web CPU s", ".2f"),
        ("trainer_cpu", "trainer CPU s", ".2f"),
        ("rss_before", "web RSS MB", ".0f"),
        ("rss_peak", "peak RSS MB", ".0f"),
        ("readers_cpu", "readers CPU s", ".2f"),
        ("kb", "KiB/page", ".0f"),
        ("complete", "pages complete", ""),
        ("p50", "lag p50 ms", ".1f"),
        ("p99", "lag p99 ms", ".1f"),
        ("max", "lag max ms", ".1f"),
    ]
    rows, summary = [], {}
    for server in servers:
        for pages, runs in server.runs.items():
            label = f"{server.name}: {pages} pages" if pages else f"{server.name}: none"
            rows.append(row(label, runs, pages))
    print_table(rows, cols, "condition")
    print("  (medians per run; lag: a page's point event arrival - the step's end, every page")
    print("   and step of the condition's runs; web RSS: before the run, and its peak during it)")
    for server in servers:
        none, full = (row("", server.runs[p], p) for p in (0, args.pages))
        ratio = full["wall"] / none["wall"]
        ok_ratio = "PASS" if ratio <= RATIO_BAR else "FAIL"
        ok_lag = "PASS" if full["p99"] <= LAG_BAR_MS else "FAIL"
        for pages, runs in server.runs.items():
            walls = " ".join(f"{r.wall:.2f}" for r in runs)
            print(f"  {server.name}: {pages or 'no'} pages, each run's wall s: {walls}")
        print(
            f"\n  {server.name}: {args.pages} pages / none = {ratio:.3f} wall  {ok_ratio} "
            f"(bar <= {RATIO_BAR:.2f}); lag p99 {full['p99']:.0f} ms  {ok_lag} "
            f"(bar <= {LAG_BAR_MS:g} ms); web CPU +{full['web_cpu'] - none['web_cpu']:.2f} s, "
            f"peak RSS +{full['rss_peak'] - none['rss_peak']:.0f} MB"
        )
        summary[server.name] = {
            "ratio": round(ratio, 3),
            "lag_p99_ms": round(full["p99"], 1),
            "web_cpu_s": [round(none["web_cpu"], 2), round(full["web_cpu"], 2)],
            "web_rss_peak_mb": [round(none["rss_peak"]), round(full["rss_peak"])],
            "pages_complete": full["complete"],
        }
    print(json.dumps(summary))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="runs per condition")
    parser.add_argument("--repo", type=Path, help="also measure this checkout, as 'base'")
    parser.add_argument("--readers", help=argparse.SUPPRESS)  # the pages' process: its URL
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--last", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.readers:
        try:
            import uvloop  # noqa: PLC0415  (the readers' loop, when it is installed)

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(readers_main(args.readers, args.pages, args.first, args.last))
        return

    servers = [Server("this", REPO)]
    if args.repo is not None:
        servers.append(Server("base", args.repo.resolve()))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data_root:
        for server in servers:
            data_dir = os.path.join(data_root, server.name)
            os.mkdir(data_dir)
            proc, server.url = start_server(data_dir, server.repo)
            server.pid = proc.pid
            try:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    client.post("/api/pace", json={"steps_per_sec": None}).raise_for_status()
                run(server, args.steps, 0)  # warm-up
                server.runs = {0: [], args.pages: []}
                for _ in range(args.rounds):
                    for pages in server.runs:
                        server.runs[pages].append(run(server, args.steps, pages))
            finally:
                proc.terminate()
                proc.wait(20)
    if args.repo is not None:
        print(f"\n(this: {REPO}; base: {args.repo.resolve()})")
    report(args, servers, load)


if __name__ == "__main__":
    main()
