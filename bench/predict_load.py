"""Prediction latency under concurrent load while training, prediction cache off vs on.

    .venv/bin/python bench/predict_load.py [--phases 6] [--rounds 5] [--max-seconds 180]
                                           [--repo DIR]

Starts two servers (``python -m app``, loopback, temporary data dirs): one with
``MICROGPT_PREDICT_CACHE=0`` (every request computes, as before ``app.predict.cache``), one with
the cache on. ``--repo DIR`` adds a third, "base": the cache on, serving another checkout's
code (e.g. ``git worktree add /tmp/base HEAD``), for a before/after comparison in one run.
Each starts a 500-step run (another when one ends). Then, alternating between them so all see
the same machine (only the measured server trains; the others are paused), each phase
resumes the run, waits for a new weight snapshot, fires ``--rounds`` rounds of
50 concurrent ``GET /api/predict`` over 10 distinct prefixes (50 users, each a kept-alive
connection written by hand: see ``User``), and pauses the run again. Reports per mode: p50/p99/max
latency, the median of the phases' p99s, the web process's and this load generator's CPU time
per round, and how many weight snapshots (distinct ``step``s) answered a round; and the
off/on (and base/on) ratios. Bar: p99 <= 100 ms with the cache on a 2-core machine.

The load generator shares the machine's cores with the web process and the trainer, so the
latencies include that contention (as a real client on the same box would see); on a machine
shared with other jobs, compare the two modes (measured alternately) rather than absolutes.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import REPO, pct, start_server  # noqa: E402  (bench/service.py: same helpers)

PREFIXES = ["", "a", "em", "jo", "ma", "ka", "li", "sa", "th", "ro"]
CONCURRENCY = 50
RUN_STEPS = 500
BAR_MS = 100.0


@dataclass
class Mode:
    """One server (cache off or on) and what was measured against it."""

    name: str
    url: str
    pid: int
    phases: list[list[float]] = field(default_factory=list)  # latencies (ms), per phase
    rounds: int = 0
    web_cpu: float = 0.0  # seconds, during the rounds
    client_cpu: float = 0.0
    snapshots: list[int] = field(default_factory=list)  # distinct steps answering each round


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def state(client: httpx.AsyncClient) -> dict:
    return (await client.get("/api/state")).json()


async def wait_status(client: httpx.AsyncClient, statuses: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + 60
    while (s := await state(client))["status"] not in statuses:
        if time.monotonic() > deadline:
            raise SystemExit(f"server stuck in {s['status']}")
        await asyncio.sleep(0.02)
    return s


async def start_training(client: httpx.AsyncClient) -> None:
    """Resume the paused run, or start a new 500-step run if the last one ended."""
    s = await state(client)
    if s["status"] == "paused":
        r = await client.post("/api/resume")
    else:
        r = await client.post("/api/train", json={"steps": RUN_STEPS})
    if r.status_code == 409:  # the run ended between the two calls: start another
        r = await client.post("/api/train", json={"steps": RUN_STEPS})
    r.raise_for_status()


async def stop_training(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/pause")
    if r.status_code not in (200, 409):  # 409: the run just ended by itself
        r.raise_for_status()
    await wait_status(client, ("paused", "idle"))


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


async def one(user: User, prefix: str, out: list[float]) -> int:
    t0 = time.perf_counter()
    status, body = await user.get(f"/api/predict?prefix={prefix}")
    out.append((time.perf_counter() - t0) * 1000)
    assert status == 200, (status, body[:200])
    answer = json.loads(body)
    assert answer["prefix"] == prefix and isinstance(answer["step"], int), answer
    return answer["step"]


async def round_(users: list[User], out: list[float]) -> set[int]:
    """One request per user, all at once, over the prefixes in turn; the steps that answered."""
    steps = await asyncio.gather(
        *(one(user, PREFIXES[i % len(PREFIXES)], out) for i, user in enumerate(users))
    )
    return set(steps)


async def phase(mode: Mode, rounds: int) -> None:
    """Open fresh connections (paused model), resume, wait for a fresh snapshot (a few steps
    in), fire the rounds, pause. Fresh connections per phase: uvicorn closes connections idle
    for 5 s (the other mode's phase), and a request on one would fail."""
    out: list[float] = []
    mode.phases.append(out)
    host, port = mode.url.removeprefix("http://").rsplit(":", 1)
    users = [await User(host, int(port)).open() for _ in range(CONCURRENCY)]
    try:
        async with httpx.AsyncClient(base_url=mode.url, timeout=30) as client:
            await round_(users, [])  # warms the connections; not measured
            await start_training(client)
            start = (await wait_status(client, ("training",)))["step"]
            deadline = time.monotonic() + 30
            while (await state(client))["step"] < start + 6 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for _ in range(rounds):
                if (await state(client))["status"] != "training":
                    break  # the run ended: only latencies while training count
                web0, client0 = cpu_seconds(mode.pid), time.process_time()
                mode.snapshots.append(len(await round_(users, out)))
                mode.web_cpu += cpu_seconds(mode.pid) - web0
                mode.client_cpu += time.process_time() - client0
                mode.rounds += 1
                await asyncio.sleep(0.05)  # rounds do not overlap
            await stop_training(client)
    finally:
        for user in users:
            user.close()


async def bench(modes: list[Mode], phases: int, rounds: int, max_seconds: float) -> None:
    started = time.monotonic()
    for i in range(phases):
        if time.monotonic() - started > max_seconds:
            break
        for mode in modes if i % 2 == 0 else modes[::-1]:  # off,on,base / base,on,off / ...
            await phase(mode, rounds)


def summary(mode: Mode) -> dict:
    """Over all requests; plus the median of the phases' p99s (robust to a phase that a
    neighbour's burst on the shared machine slowed down) and the CPU per round."""
    values = [v for ph in mode.phases for v in ph]
    n = max(mode.rounds, 1)
    return {
        "rounds": mode.rounds,
        "n": len(values),
        "p50": statistics.median(values) if values else float("nan"),
        "p99": pct(values, 99),
        "max": max(values, default=float("nan")),
        "phase_p99": statistics.median(pct(ph, 99) for ph in mode.phases if ph),
        "web_cpu_ms": mode.web_cpu / n * 1000,
        "client_cpu_ms": mode.client_cpu / n * 1000,
        "snapshots": statistics.mean(mode.snapshots) if mode.snapshots else float("nan"),
    }


def ratios(other: dict, on: dict) -> str:
    keys = ("p50", "p99", "phase_p99", "web_cpu_ms")
    return ", ".join(f"{k.removesuffix('_ms')} {other[k] / on[k]:.1f}x" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", type=int, default=6, help="phases per mode (alternating)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 50 requests per phase")
    parser.add_argument("--max-seconds", type=float, default=180)
    parser.add_argument(
        "--repo", type=Path, help="also serve this checkout (cache on) as mode 'base'"
    )
    args = parser.parse_args()

    servers = [("off", REPO, False), ("on", REPO, True)]
    if args.repo is not None:
        servers.append(("base", args.repo.resolve(), True))
    procs, modes = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data_root:
        try:
            for name, repo, cache in servers:
                data_dir = os.path.join(data_root, name)
                os.mkdir(data_dir)
                cached = {"MICROGPT_PREDICT_CACHE": "1" if cache else "0"}
                proc, url = start_server(data_dir, repo, cached)
                procs.append(proc)
                modes.append(Mode(name, url, proc.pid))
            asyncio.run(bench(modes, args.phases, args.rounds, args.max_seconds))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(20)

    stats = {mode.name: summary(mode) for mode in modes}
    print(f"\n/api/predict, {CONCURRENCY} concurrent over {len(PREFIXES)} prefixes, while training")
    print(
        f"({os.cpu_count()} cores, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
        f"{'/'.join(stats)} alternating, {args.rounds} rounds per phase)"
    )
    if args.repo is not None:
        print(f"(base: {args.repo.resolve()}; off and on: {REPO})")
    print()
    cols = [
        ("rounds", "rounds", "d"),
        ("n", "n", "d"),
        ("p50", "p50 ms", ".1f"),
        ("p99", "p99 ms", ".1f"),
        ("max", "max ms", ".1f"),
        ("phase_p99", "phase p99", ".1f"),
        ("web_cpu_ms", "web CPU/round", ".0f"),
        ("client_cpu_ms", "client CPU/round", ".0f"),
        ("snapshots", "snapshots/round", ".2f"),
    ]
    print("  cache " + " ".join(f"{title:>{max(len(title), 7)}}" for _, title, _ in cols))
    for name, s in stats.items():
        cells = (f"{s[key]:>{max(len(title), 7)}{fmt}}" for key, title, fmt in cols)
        print(f"  {name:<5} " + " ".join(cells))
    on = stats["on"]
    print()
    for name in ("off", "base"):
        if name in stats:
            print(f"  {name}/on: {ratios(stats[name], on)}")
    print("  (phase p99: median over phases of each phase's p99; CPU in ms per round of 50)")
    verdict = "PASS" if on["p99"] <= BAR_MS else "FAIL"
    print(f"  cache on p99 {on['p99']:.1f} ms: {verdict} (bar <= {BAR_MS:g} ms)")
    print(json.dumps({m: {k: round(v, 2) for k, v in s.items()} for m, s in stats.items()}))


if __name__ == "__main__":
    main()
