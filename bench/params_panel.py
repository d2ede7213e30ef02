"""The Parameters panel's cost: training speed with pages open vs none, and /api/params latency.

    .venv/bin/python bench/params_panel.py [--rounds 2] [--steps 500] [--pages 3]

Starts one server (``python -m app``, loopback, temporary data dir) and measures, on it alone:

1. **Training speed with ``--pages`` pages open vs none.** A page is emulated as a browser
   drives the server: it holds ``GET /ui/events`` open and reads it continuously, and on each
   ``event: params`` fetches ``GET /api/params.bin``, one fetch in flight per page (a ``params``
   event during a fetch makes it fetch once more after, as static/js/params/panel.js does). Each
   run is the same default run: ``POST /api/reset {"seed": 42}``, then a ``--steps`` run at full
   speed, timed from ``POST /api/train`` until ``/api/state`` says idle (the run's own
   ``elapsed`` is reported too). Runs alternate none, pages, none, pages, ... (``--rounds``
   each, after a short warm-up run) so both conditions see the same noisy shared machine; the
   ratio of medians (pages / none) is the result. Bar: at most 10% slower (ratio <= 1.10).
2. **Latency of ``GET /api/params`` and ``GET /api/params.bin`` while training**, with the
   pages open: one more run, during which this process requests the two in turn, one request
   at a time, with a short sleep between. Bar: ``/api/params`` p99 <= 50 ms.

The pages run in a separate process (this script, with the hidden ``--pages-only`` flag, all
pages in one asyncio loop, httpx), so the load generator's CPU is reported apart from the web
process's. Both share the machine's cores with the web process and the trainer, as a browser on
the same box would. Per condition: the web process's and the trainer's CPU seconds per run
(``/proc/<pid>/stat``); for the pages: ``params`` events, frames fetched (and how many distinct
steps they held) and bytes per frame. A page's cost here is its whole stream (HTML fragments
~4/s, a ``point`` event per step) plus the panel's fetches; the page's other fetches (e.g.
``/ui/predict`` on ``model-updated``) are not emulated.
"""

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import httpx
from _support import (
    cpu_seconds,
    fresh_model,
    pct,
    print_table,
    start_server,
    trainer_cpu,
    wait_idle,
)

RATIO_BAR = 1.10
P99_BAR_MS = 50.0


# ---- the pages (in their own process: --pages-only) ----


@dataclass
class Page:
    """One page's Parameters panel: the stream's ``params`` events and the frames it fetched."""

    client: httpx.AsyncClient
    events: int = 0
    frames: int = 0
    bytes: int = 0
    errors: int = 0  # failed fetches
    steps: set[int] = field(default_factory=set)
    in_flight: bool = False
    again: bool = False
    first_frame: asyncio.Event = field(default_factory=asyncio.Event)

    def on_params(self) -> None:
        self.events += 1
        if self.in_flight:
            self.again = True
        else:
            self.in_flight = True
            asyncio.get_running_loop().create_task(self.fetch())

    async def fetch(self) -> None:
        """Fetch a frame, and once more if a ``params`` event came meanwhile."""
        try:
            while True:
                self.again = False
                r = await self.client.get("/api/params.bin")
                r.raise_for_status()
                body = r.content
                (n,) = struct.unpack_from("<I", body)
                self.steps.add(json.loads(body[4 : 4 + n])["step"])
                self.frames += 1
                self.bytes += len(body)
                self.first_frame.set()
                if not self.again:
                    break
        except httpx.HTTPError:
            self.errors += 1  # as the page: the stream's next event asks again
        finally:
            self.in_flight = False

    async def read_stream(self) -> None:
        """Read ``/ui/events`` for good; a blank line ends each message."""
        headers = {"Accept": "text/event-stream"}
        async with self.client.stream("GET", "/ui/events", headers=headers) as resp:
            resp.raise_for_status()
            event = None
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif not line:
                    if event == "params":
                        self.on_params()
                    event = None

    def reset_counts(self) -> None:
        self.events = self.frames = self.bytes = self.errors = 0
        self.steps.clear()


async def pages_main(url: str, n: int) -> None:
    """Open n pages, print ``ready`` once each has its first frame, keep them open until stdin
    closes, then print the counts since ``ready`` (and this process's CPU time) as JSON."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        pages = [Page(client) for _ in range(n)]
        streams = [asyncio.create_task(p.read_stream()) for p in pages]
        await asyncio.wait_for(asyncio.gather(*(p.first_frame.wait() for p in pages)), 30)
        for p in pages:
            p.reset_counts()
        cpu0 = time.process_time()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
        for task in streams:
            if task.done() and task.exception():
                raise task.exception()
            task.cancel()
        out = [
            {
                "events": p.events,
                "frames": p.frames,
                "bytes": p.bytes,
                "steps": len(p.steps),
                "errors": p.errors,
            }
            for p in pages
        ]
        print(json.dumps({"pages": out, "cpu": time.process_time() - cpu0}), flush=True)


class Pages:
    """The pages' process, seen from the benchmark: open until closed, then their counts."""

    def __init__(self, url: str, n: int):
        cmd = [sys.executable, __file__, "--pages-only", url, "--pages", str(n)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise SystemExit("the pages did not open")

    def close(self) -> dict:
        out, _ = self.proc.communicate(timeout=30)  # closes stdin: the pages report and exit
        if self.proc.returncode != 0:
            raise SystemExit(f"the pages failed (exit {self.proc.returncode})")
        return json.loads(out)


# ---- runs ----


@dataclass
class Run:
    wall: float  # seconds, POST /api/train -> idle seen
    elapsed: float  # the run's own training time (RunInfo.elapsed)
    web_cpu: float
    trainer_cpu: float
    pages: dict | None = None  # the pages' counts, when open


def run(client: httpx.Client, web_pid: int, steps: int, pages: int, probe=None) -> Run:
    """Reset, open the pages (if any), train ``steps`` at full speed, close the pages.
    ``probe(client)``, if given, is called until the run ends (it must return promptly)."""
    fresh_model(client)
    opened = Pages(str(client.base_url), pages) if pages else None
    try:
        web0 = cpu_seconds(web_pid)
        t0 = time.perf_counter()
        s = client.post("/api/train", json={"steps": steps}).raise_for_status().json()
        worker, work0 = s["worker_pid"], trainer_cpu(s["worker_pid"])
        if probe is not None:
            while client.get("/api/state").json()["status"] == "training":
                probe(client)
        s = wait_idle(client)
        wall = time.perf_counter() - t0
        web, work = cpu_seconds(web_pid) - web0, trainer_cpu(worker) - work0
    finally:
        counts = opened.close() if opened else None
    if s["segment"]["status"] != "done" or s["step"] != steps:
        raise SystemExit(f"the run did not finish: {s['run']}")
    return Run(wall, s["segment"]["elapsed"], web, work, counts)


class Prober:
    """Requests /api/params and /api/params.bin in turn, one at a time; latencies in ms."""

    def __init__(self, sleep: float):
        self.sleep = sleep
        self.ms: dict[str, list[float]] = {"/api/params": [], "/api/params.bin": []}
        self.size: dict[str, int] = {}

    def __call__(self, client: httpx.Client) -> None:
        for path, out in self.ms.items():
            t0 = time.perf_counter()
            r = client.get(path)
            out.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            self.size[path] = len(r.content)
            time.sleep(self.sleep)


# ---- report ----


def row(name: str, runs: list[Run], steps: int) -> dict:
    wall = statistics.median(r.wall for r in runs)
    return {
        "condition": name,
        "runs": len(runs),
        "wall": wall,
        "elapsed": statistics.median(r.elapsed for r in runs),
        "steps_per_s": steps / wall,
        "web_cpu": statistics.median(r.web_cpu for r in runs),
        "trainer_cpu": statistics.median(r.trainer_cpu for r in runs),
        "pages_cpu": statistics.median(r.pages["cpu"] if r.pages else 0.0 for r in runs),
    }


def page_counts(runs: list[Run]) -> dict:
    pages = [p for r in runs if r.pages for p in r.pages["pages"]]
    frames = [p["frames"] for p in pages]
    return {
        "frames": frames,
        "events": [p["events"] for p in pages],
        "distinct": [p["steps"] for p in pages],
        "errors": sum(p["errors"] for p in pages),
        "bytes_per_frame": sum(p["bytes"] for p in pages) / max(sum(frames), 1),
    }


def latency_line(path: str, ms: list[float], size: int, bar: float | None) -> str:
    line = (
        f"  {path:<16} p50 {statistics.median(ms):6.1f} ms  p99 {pct(ms, 99):6.1f} ms  "
        f"max {max(ms):6.1f} ms  n={len(ms):<4} {size / 1024:.0f} KiB"
    )
    if bar is not None:
        verdict = "PASS" if pct(ms, 99) <= bar else "FAIL"
        line += f"  {verdict} (bar p99 <= {bar:g} ms)"
    return line


def report(args, rows: list[dict], counts: dict, probe_run: Run, prober: Prober, load) -> None:
    none, with_pages = rows
    print(f"\nParameters panel, {args.steps}-step runs at full speed, one server")
    print(
        f"({os.cpu_count()} cores, load average {load:.1f} -> {os.getloadavg()[0]:.1f}; "
        f"none / {args.pages} pages alternating, {args.rounds} runs each)\n"
    )
    cols = [
        ("runs", "runs", "d"),
        ("wall", "median s", ".2f"),
        ("elapsed", "run elapsed s", ".2f"),
        ("steps_per_s", "steps/s", ".1f"),
        ("web_cpu", "web CPU s", ".2f"),
        ("trainer_cpu", "trainer CPU s", ".2f"),
        ("pages_cpu", "pages CPU s", ".2f"),
    ]
    print_table(rows, cols, "condition")
    ratio = with_pages["wall"] / none["wall"]
    verdict = "PASS" if ratio <= RATIO_BAR else "FAIL"
    print(
        f"\n  ratio ({args.pages} pages / none): {ratio:.3f} wall, "
        f"{with_pages['elapsed'] / none['elapsed']:.3f} run elapsed   "
        f"{verdict} (bar: <= {RATIO_BAR:.2f})"
    )
    print("  (CPU s: median per run; pages CPU: the load generator's process)")
    print(
        f"  per page per run: params events {counts['events']}, frames {counts['frames']} "
        f"(distinct steps {counts['distinct']}), bytes per frame {counts['bytes_per_frame']:.0f}, "
        f"failed fetches {counts['errors']}"
    )
    print(
        f"\n  latency while training with {args.pages} pages open "
        f"({args.steps / probe_run.wall:.1f} steps/s during it):"
    )
    for path, ms in prober.ms.items():
        bar = P99_BAR_MS if path == "/api/params" else None
        print(latency_line(path, ms, prober.size[path], bar))
    summary = {
        "ratio": round(ratio, 3),
        "steps_per_s": {r["condition"]: round(r["steps_per_s"], 2) for r in rows},
        "params_p99_ms": round(pct(prober.ms["/api/params"], 99), 2),
        "params_bin_p99_ms": round(pct(prober.ms["/api/params.bin"], 99), 2),
    }
    print(json.dumps(summary))


def bench(args, url: str, pid: int) -> None:
    load = os.getloadavg()[0]
    by_condition: dict[int, list[Run]] = {0: [], args.pages: []}
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/api/pace", json={"steps_per_sec": None}).raise_for_status()
        run(client, pid, args.warmup_steps, 0)  # starts the worker, warms caches: not counted
        for i in range(args.rounds):
            for pages in (0, args.pages):
                r = run(client, pid, args.steps, pages)
                by_condition[pages].append(r)
                print(
                    f"  round {i + 1}, {pages} pages: {r.wall:.2f} s, web CPU {r.web_cpu:.2f} s",
                    file=sys.stderr,
                )
        prober = Prober(args.probe_sleep)
        probe_run = run(client, pid, args.steps, args.pages, probe=prober)
    rows = [
        row("no pages", by_condition[0], args.steps),
        row(f"{args.pages} pages", by_condition[args.pages], args.steps),
    ]
    report(args, rows, page_counts(by_condition[args.pages]), probe_run, prober, load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs per condition, alternating")
    parser.add_argument("--steps", type=int, default=500, help="steps per run")
    parser.add_argument("--pages", type=int, default=3, help="pages open in the pages condition")
    parser.add_argument("--warmup-steps", type=int, default=50, help="first run, not counted")
    parser.add_argument(
        "--probe-sleep", type=float, default=0.02, help="seconds between latency requests"
    )
    parser.add_argument("--pages-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pages < 1:
        parser.error("--pages must be at least 1")
    if args.pages_only:
        asyncio.run(pages_main(args.pages_only, args.pages))
        return

    with tempfile.TemporaryDirectory() as data_dir:
        proc, url = start_server(data_dir)
        try:
            bench(args, url, proc.pid)
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
