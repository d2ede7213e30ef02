"""The graph panel's cost: training speed with the graph of one step open vs none, and
/api/graph's latency and size as sent.

    .venv/bin/python bench/graph_panel.py [--rounds 2] [--steps 500] [--every 10.0]

Starts one server (``python -m app``, loopback, temporary data dir) and measures, on it alone:

1. **Training speed with the panel open vs none.** static/graph.js fetches ``GET /api/graph``
   only when the card is opened, when the step the page views changes, or when "Show the
   newest step" is pressed: at most one fetch per change, never one per training step. The
   emulated panel is opened as the run starts (one fetch) and then has "Show the newest step"
   pressed every ``--every`` seconds (default 10: a person reading the graph as the run goes on;
   ``--every 2`` is harsher than any page), one fetch at a time, gzip accepted as a browser
   does; training at full speed, each fetch is of a new step, so each one is built (~0.15 s of
   the graph process's CPU: app.past.graphs), none comes from the cache. The first request of a
   server starts that process; it is made (and timed) before the runs. Each run is the same
   default run: ``POST /api/reset {"seed": 42}``, then a ``--steps`` run at full speed, timed
   from ``POST /api/train`` until ``/api/state`` says idle (polled every 50 ms in both
   conditions). Runs alternate none, panel, none, panel, ... (``--rounds`` each, after a short
   warm-up run) so both conditions see the same noisy shared machine; the ratio of medians
   (panel / none) is the result. Bar: at most 10% slower (ratio <= 1.10).
2. **Latency and size of ``GET /api/graph``**: the panel's fetches during those runs (built
   while training at full speed; bar: p99 <= 300 ms), and, with the server idle afterwards,
   steps not built yet and the same step again (from the cache of the last three). Latency
   is until the last byte (gzipped, as sent) has arrived; size as sent is the gzipped body,
   beside the JSON it unpacks to.

The panel runs in a thread of this process; it only reads bytes (it parses nothing), so its
own CPU is small. Per condition: the web process's and the trainer's CPU seconds per run
(``/proc/<pid>/stat``).
"""

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from params_panel import fresh_model, trainer_cpu, wait_idle  # noqa: E402  (same runs)
from predict_load import cpu_seconds  # noqa: E402  (bench/predict_load.py)
from service import pct, print_table, start_server  # noqa: E402  (bench/service.py)

RATIO_BAR = 1.10
P99_BAR_MS = 300.0


@dataclass
class Fetch:
    ms: float  # request sent -> last byte received
    status: int
    sent: int = 0  # bytes on the wire (gzipped)
    raw: int = 0  # the JSON they unpack to
    step: int | None = None


def fetch_graph(client: httpx.Client, step: int | None = None) -> Fetch:
    """One GET /api/graph as a browser makes it (gzip accepted), timed to its last byte."""
    params = {} if step is None else {"step": step}
    t0 = time.perf_counter()
    with client.stream(
        "GET", "/api/graph", params=params, headers={"Accept-Encoding": "gzip"}
    ) as r:
        body = b"".join(r.iter_raw())
        ms = (time.perf_counter() - t0) * 1000
    if r.status_code != 200:
        return Fetch(ms, r.status_code, len(body))
    raw = gzip.decompress(body) if r.headers.get("content-encoding") == "gzip" else body
    return Fetch(ms, 200, len(body), len(raw), int(r.headers["x-step"]))


@dataclass
class Panel:
    """The graph card, open, asking for the newest step every ``every`` seconds."""

    url: str
    every: float
    fetches: list[Fetch] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                t0 = time.monotonic()
                self.fetches.append(fetch_graph(client))
                self._stop.wait(max(0.0, self.every - (time.monotonic() - t0)))

    def stop(self) -> list[Fetch]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        return self.fetches


# ---- runs ----


@dataclass
class Run:
    wall: float  # seconds, POST /api/train -> idle seen
    elapsed: float  # the run's own training time (RunInfo.elapsed)
    web_cpu: float
    trainer_cpu: float
    fetches: list[Fetch] = field(default_factory=list)  # the panel's, when open


def run(client: httpx.Client, web_pid: int, steps: int, panel: Panel | None) -> Run:
    """Reset, train ``steps`` at full speed with the panel (if any) fetching meanwhile."""
    fresh_model(client)
    web0 = cpu_seconds(web_pid)
    t0 = time.perf_counter()
    s = client.post("/api/train", json={"steps": steps}).raise_for_status().json()
    worker, work0 = s["worker_pid"], trainer_cpu(s["worker_pid"])
    if panel is not None:
        panel.start()
    try:
        s = wait_idle(client)
        wall = time.perf_counter() - t0
        web, work = cpu_seconds(web_pid) - web0, trainer_cpu(worker) - work0
    finally:
        fetches = panel.stop() if panel is not None else []
    if s["run"]["status"] != "done" or s["step"] != steps:
        raise SystemExit(f"the run did not finish: {s['run']}")
    return Run(wall, s["run"]["elapsed"], web, work, fetches)


def idle_fetches(client: httpx.Client, steps: int) -> tuple[list[Fetch], list[Fetch]]:
    """With the server idle: steps not built yet (spread over the run), then one of them
    again and again (cached)."""
    built = [fetch_graph(client, k) for k in range(steps // 10, steps, steps // 5)]
    cached = [fetch_graph(client, built[-1].step) for _ in range(5)]
    return built, cached


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
        "fetches": statistics.median(len(r.fetches) for r in runs),
    }


def latency_line(name: str, fetches: list[Fetch], bar: float | None) -> str:
    ok = [f for f in fetches if f.status == 200]
    if not ok:
        return f"  {name:<28} no graph fetched"
    ms = [f.ms for f in ok]
    sent = statistics.median(f.sent for f in ok)
    raw = statistics.median(f.raw for f in ok)
    line = (
        f"  {name:<28} p50 {statistics.median(ms):6.1f} ms  p99 {pct(ms, 99):6.1f} ms  "
        f"max {max(ms):6.1f} ms  n={len(ms):<3} sent {sent / 2**20:.2f} MB "
        f"(JSON {raw / 2**20:.2f} MB)"
    )
    if bar is not None:
        verdict = "PASS" if pct(ms, 99) <= bar else "FAIL"
        line += f"  {verdict} (bar p99 <= {bar:g} ms)"
    return line


def report(args, runs: dict[str, list[Run]], idle, load: float) -> None:
    rows = [row("none", runs["none"], args.steps), row("panel open", runs["panel"], args.steps)]
    during = [f for r in runs["panel"] for f in r.fetches]
    none, panel = rows
    print(f"\nGraph panel, {args.steps}-step runs at full speed, one server")
    print(
        f"({os.cpu_count()} cores, load average {load:.1f} -> {os.getloadavg()[0]:.1f}; "
        f"none / panel open alternating, {args.rounds} runs each; the panel fetches the "
        f"newest step's graph every {args.every:g} s)\n"
    )
    cols = [
        ("runs", "runs", "d"),
        ("wall", "median s", ".2f"),
        ("elapsed", "run elapsed s", ".2f"),
        ("steps_per_s", "steps/s", ".1f"),
        ("web_cpu", "web CPU s", ".2f"),
        ("trainer_cpu", "trainer CPU s", ".2f"),
        ("fetches", "graphs fetched", ".0f"),
    ]
    print_table(rows, cols, "condition")
    ratio = panel["wall"] / none["wall"]
    verdict = "PASS" if ratio <= RATIO_BAR else "FAIL"
    print(
        f"\n  ratio (panel open / none): {ratio:.3f} wall, "
        f"{panel['elapsed'] / none['elapsed']:.3f} run elapsed   "
        f"{verdict} (bar: <= {RATIO_BAR:.2f})"
    )
    # each round's pair ran back to back: their ratios see the same load, the medians may not
    paired = [p.wall / n.wall for n, p in zip(runs["none"], runs["panel"], strict=True)]
    built = sum(len(r.fetches) for r in runs["panel"]) / len(runs["panel"])
    per_build = (panel["web_cpu"] - none["web_cpu"]) / max(built, 1)
    print(
        f"  each round's pair: {', '.join(f'{x:.2f}' for x in paired)} "
        f"(median {statistics.median(paired):.3f}); the web process's CPU per graph built: "
        f"{per_build:.2f} s"
    )
    failed = [f.status for f in during if f.status not in (200, 409)]
    early = sum(f.status == 409 for f in during)
    print(
        f"  (CPU s: median per run; {early} fetch(es) came before the run's first step: 409; "
        f"failed fetches: {failed or 'none'})"
    )
    built, cached = idle
    print("\n  GET /api/graph (gzip accepted), to the last byte:")
    print(latency_line("while training (each built)", during, P99_BAR_MS))
    print(latency_line("idle, a step not built yet", built, None))
    print(latency_line("idle, the same step again", cached, None))
    ok = [f.ms for f in during if f.status == 200]
    summary = {
        "ratio": round(ratio, 3),
        "paired_ratio": round(statistics.median(paired), 3),
        "web_cpu_per_graph_s": round(per_build, 3),
        "steps_per_s": {r["condition"]: round(r["steps_per_s"], 2) for r in rows},
        "graph_p99_ms_training": round(pct(ok, 99), 1) if ok else None,
        "graph_p50_ms_idle": round(statistics.median(f.ms for f in built), 1),
        "graph_sent_mb": round(statistics.median(f.sent for f in built) / 2**20, 3),
    }
    print(json.dumps(summary))


def bench(args, url: str, pid: int) -> None:
    load = os.getloadavg()[0]
    runs: dict[str, list[Run]] = {"none": [], "panel": []}
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/api/pace", json={"steps_per_sec": None}).raise_for_status()
        run(client, pid, args.warmup_steps, None)  # starts the worker, warms caches: not counted
        # the first /api/graph starts the graph process (app.past.graphs): once per server
        t0 = time.perf_counter()
        client.get("/api/graph", headers={"Accept-Encoding": "gzip"}).raise_for_status()
        print(f"  first /api/graph (starts the graph process): {time.perf_counter() - t0:.2f} s")
        for i in range(args.rounds):
            for name in ("none", "panel"):
                panel = Panel(url, args.every) if name == "panel" else None
                r = run(client, pid, args.steps, panel)
                runs[name].append(r)
                print(
                    f"  round {i + 1}, {name}: {r.wall:.2f} s, web CPU {r.web_cpu:.2f} s, "
                    f"{len(r.fetches)} graphs fetched",
                    file=sys.stderr,
                )
        idle = idle_fetches(client, args.steps)
    report(args, runs, idle, load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs per condition, alternating")
    parser.add_argument("--steps", type=int, default=500, help="steps per run")
    parser.add_argument(
        "--every", type=float, default=10.0, help="seconds between the panel's fetches"
    )
    parser.add_argument("--warmup-steps", type=int, default=50, help="first run, not counted")
    args = parser.parse_args()
    if args.steps < 10:
        parser.error("--steps must be at least 10")

    with tempfile.TemporaryDirectory() as data_dir:
        proc, url = start_server(data_dir)
        try:
            bench(args, url, proc.pid)
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
