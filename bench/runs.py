"""Runs side by side: wall time of 1, 2 and 4 runs training at once on 2 workers, and
``/api/runs/{id}/predict`` latency while 2 runs train.

    .venv/bin/python bench/runs.py [--steps 500] [--rounds 3] [--quick]

Starts one server (``python -m app``, loopback, temporary data dir) with
``MICROGPT_WORKERS=2`` and measures, on it alone:

1. **Runs at once.** A case of N runs (N = 1, 2, 4): ``POST /api/runs`` N times (the default
   shape, ``--steps`` steps), then ``POST /api/runs/{id}/train`` for all N at once; timed from
   the first train POST until ``GET /api/runs`` (one request for all, polled every 50 ms)
   shows every run idle at step ``--steps``. The train answers must say ``training`` for the
   first 2 and ``queued`` (places 1, 2, ...) for the rest; afterwards each run's
   ``/api/runs/{id}/state`` must be idle at step ``--steps`` with its segment done. The runs
   are deleted after each case. Cases alternate 1, 2, 4, 1, 2, 4, ... (``--rounds`` each,
   after a short warm-up run); the result is each case's median and its ratio to 1 run alone
   (on 2 cores: ~1.0 for 2 runs, ~2.0 for 4). The wall time includes starting each run's
   training process. 1 run alone also gives the default shape's seconds per step (wall /
   steps), which app.runs.estimates.DEFAULT_STEP_SECONDS (the queue's estimates) should match.
2. **Predictions while 2 runs train.** 2 runs of ``--steps`` steps train; 20 users (each a
   kept-alive connection written by hand: bench/predict_load.py's ``User``) ask in turn
   ``/api/runs/{a}/predict``, ``/api/runs/{b}/predict`` and the unprefixed ``/api/predict``
   (the default run: b, the newest) over varied prefixes, each waiting 50 ms between its
   requests, a bounded number each; only requests sent while both runs train count. Bar:
   p99 <= 50 ms.

The load generator shares the machine's cores with the web process and the two trainers, so
the latencies include that contention (as a client on the same box would see).
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
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_load import PREFIXES, User, cpu_seconds  # noqa: E402  (bench/predict_load.py)
from service import REPO, pct, print_table, start_server  # noqa: E402  (bench/service.py)

WORKERS = 2
CASES = (1, 2, 4)
P99_BAR_MS = 50.0
POLL = 0.05  # seconds between polls of GET /api/runs
USERS = 20
THINK = 0.05  # seconds each user waits between its requests
# the shipped prefixes and some longer ones (the default block_size 8 allows 7 characters)
OK = ("training", "idle")  # the 2 runs' statuses while they train for the predict load
VARIED = [*PREFIXES, "emm", "ann", "chri", "dav", "mich", "isabel", "z", "q"]


def state_seconds() -> float | None:
    """app.runs.estimates.DEFAULT_STEP_SECONDS as the source says (read, not imported)."""
    text = (REPO / "app" / "runs" / "estimates.py").read_text()
    m = re.search(r"^DEFAULT_STEP_SECONDS\s*=\s*([0-9.e+-]+)", text, re.M)
    return float(m.group(1)) if m else None


class AppError(Exception):
    """The app answered something other than the benchmark expects."""


def expect(r: httpx.Response, code: int, what: str) -> httpx.Response:
    if r.status_code != code:
        raise AppError(f"{what}: HTTP {r.status_code} (expected {code}): {r.text[:300]}")
    return r


# ---- runs at once ----


@dataclass
class Case:
    n: int
    wall: float  # s: first train POST -> every run idle at the last step (as polled)
    ends: list[float]  # s after the first train POST, each run seen done
    starts: list[float | None]  # s after the first train POST, each run seen training
    estimates: list[float | None]  # queue_wait the train answer gave (queued runs)
    elapsed: list[float]  # each segment's own training time (SegmentInfo.elapsed)
    answers: list[str]  # status in each train answer


async def create_runs(client: httpx.AsyncClient, n: int, steps: int) -> list[int]:
    ids = []
    for _ in range(n):
        r = expect(await client.post("/api/runs", json={"steps": steps}), 201, "POST /api/runs")
        ids.append(r.json()["id"])
    return ids


async def delete_runs(client: httpx.AsyncClient, ids: list[int]) -> None:
    for run_id in ids:
        expect(await client.delete(f"/api/runs/{run_id}"), 204, f"DELETE /api/runs/{run_id}")


async def train_all(client: httpx.AsyncClient, ids: list[int], steps: int) -> list[dict]:
    """``POST /api/runs/{id}/train`` for every run at once; their answers."""

    async def one(run_id: int) -> dict:
        r = await client.post(f"/api/runs/{run_id}/train", json={"steps": steps})
        return expect(r, 200, f"POST /api/runs/{run_id}/train").json()

    return await asyncio.gather(*(one(i) for i in ids))


def check_answers(answers: list[dict]) -> None:
    """The first ``WORKERS`` train at once, the rest wait in places 1, 2, ..."""
    training = [a for a in answers if a["status"] == "training"]
    queued = sorted((a for a in answers if a["status"] == "queued"), key=lambda a: a["id"])
    want_training = min(len(answers), WORKERS)
    if len(training) != want_training or len(queued) != len(answers) - want_training:
        got = [(a["id"], a["status"], a.get("queue_position")) for a in answers]
        raise AppError(
            f"train answers (id, status, queue_position): {got}; expected {want_training} "
            f"training and {len(answers) - want_training} queued with {WORKERS} workers"
        )
    places = sorted(a["queue_position"] for a in queued)
    if places != list(range(1, len(queued) + 1)):
        raise AppError(f"queue positions {places}, expected 1..{len(queued)}")


async def watch(
    client: httpx.AsyncClient, ids: list[int], steps: int, t0: float, timeout: float
) -> tuple[dict[int, float], dict[int, float]]:
    """Poll ``GET /api/runs`` until every run in ``ids`` is idle at ``steps``: when each was
    first seen training, and when idle at the last step (s after ``t0``)."""
    started: dict[int, float] = {}
    ended: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while len(ended) < len(ids):
        r = expect(await client.get("/api/runs"), 200, "GET /api/runs")
        now = time.perf_counter() - t0
        runs = {run["id"]: run for run in r.json()["runs"]}
        for run_id in ids:
            run = runs.get(run_id)
            if run is None:
                raise AppError(f"run {run_id} is missing from GET /api/runs")
            status = run["status"]
            if status == "training":
                started.setdefault(run_id, now)
            elif status == "idle" and run["step"] == steps:
                ended.setdefault(run_id, now)
            elif status not in ("queued", "idle"):
                raise AppError(f"run {run_id} became {status} at step {run['step']}")
        if time.monotonic() > deadline:
            left = {i: (runs[i]["status"], runs[i]["step"]) for i in ids if i not in ended}
            raise AppError(f"not done after {timeout:.0f} s: (status, step) {left}")
        await asyncio.sleep(POLL)
    return started, ended


async def check_done(client: httpx.AsyncClient, ids: list[int], steps: int) -> list[float]:
    """Each run's state: idle at ``steps``, its segment done; the segments' elapsed times."""
    elapsed = []
    for run_id in ids:
        r = expect(await client.get(f"/api/runs/{run_id}/state"), 200, "GET state")
        s = r.json()
        seg = s.get("segment") or {}
        if s["status"] != "idle" or s["step"] != steps or seg.get("status") != "done":
            raise AppError(
                f"run {run_id} ended {s['status']} at step {s['step']} (segment "
                f"{seg.get('status')}, reason {seg.get('reason')}); expected idle at {steps}, done"
            )
        elapsed.append(seg["elapsed"])
    return elapsed


async def case(client: httpx.AsyncClient, n: int, steps: int) -> Case:
    ids = await create_runs(client, n, steps)
    try:
        t0 = time.perf_counter()
        answers = await train_all(client, ids, steps)
        check_answers(answers)
        timeout = 60 + steps * 0.2 * n
        started, ended = await watch(client, ids, steps, t0, timeout)
        wall = max(ended.values())
        elapsed = await check_done(client, ids, steps)
    finally:
        await delete_runs(client, ids)
    return Case(
        n=n,
        wall=wall,
        ends=[ended[i] for i in ids],
        starts=[
            0.0 if a["status"] == "training" else started.get(i)
            for i, a in zip(ids, answers, strict=True)
        ],
        estimates=[a.get("queue_wait") for a in answers],
        elapsed=elapsed,
        answers=[a["status"] for a in answers],
    )


# ---- predictions while 2 runs train ----


@dataclass
class Load:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # ms, per target
    errors: list[str] = field(default_factory=list)
    late: int = 0  # answered, but sent after a run stopped training: not counted
    seconds: float = 0.0  # of load
    web_cpu: float = 0.0  # s, the web process's, during the load
    client_cpu: float = 0.0  # s, this process's (the users and the monitor), during the load
    stopped_early: bool = False  # a run ended before the users were done
    default_id: int | None = None
    wall: float = 0.0  # the 2 runs, first train POST -> both idle at the last step


async def predict_load(url: str, pid: int, steps: int, per_user: int) -> Load:
    load = Load()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
        ids = await create_runs(client, 2, steps)
        a, b = ids
        load.default_id = expect(await client.get("/api/runs"), 200, "GET /api/runs").json()[
            "default"
        ]
        targets = {
            f"run {a}: /api/runs/{a}/predict": f"/api/runs/{a}/predict",
            f"run {b}: /api/runs/{b}/predict": f"/api/runs/{b}/predict",
            f"default: /api/predict (run {load.default_id})": "/api/predict",
        }
        names = list(targets)
        load.latencies = {name: [] for name in names}
        users = [await User(host, int(port)).open() for _ in range(USERS)]
        training = asyncio.Event()
        try:
            # warm up: every user, every target, not measured (the runs are idle)
            for u, user in enumerate(users):
                for j, name in enumerate(names):
                    prefix = VARIED[(u + j) % len(VARIED)]
                    status, body = await user.get(f"{targets[name]}?prefix={prefix}")
                    if status != 200:
                        raise AppError(f"warm-up {targets[name]}: HTTP {status}: {body[:200]!r}")

            async def monitor(t0: float) -> None:
                """Set ``training`` while both train (after a first snapshot), clear it when
                either stops; return when both are idle at the last step."""
                deadline = time.monotonic() + 60 + steps * 0.5
                while time.monotonic() < deadline:
                    r = expect(await client.get("/api/runs"), 200, "GET /api/runs")
                    runs = {run["id"]: run for run in r.json()["runs"]}
                    now = [runs[i] for i in ids]
                    if all(r["status"] == "training" and r["step"] >= 5 for r in now):
                        training.set()
                    elif training.is_set() and any(r["status"] != "training" for r in now):
                        training.clear()
                    if all(r["status"] == "idle" and r["step"] == steps for r in now):
                        load.wall = time.perf_counter() - t0
                        return
                    bad = [(r["id"], r["status"]) for r in now if r["status"] not in OK]
                    if bad:
                        raise AppError(f"runs (id, status) {bad} while training for the load")
                    await asyncio.sleep(POLL)
                raise AppError("the 2 runs did not end in time")

            async def user_loop(u: int, user: User) -> None:
                await asyncio.wait_for(training.wait(), 60)
                for i in range(per_user):
                    if not training.is_set():
                        return
                    name = names[(u + i) % len(names)]
                    prefix = VARIED[(u * 7 + i) % len(VARIED)]
                    t0 = time.perf_counter()
                    try:
                        status, body = await asyncio.wait_for(
                            user.get(f"{targets[name]}?prefix={prefix}"), 10
                        )
                    except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
                        load.errors.append(f"{targets[name]}?prefix={prefix}: {e!r}")
                        return
                    ms = (time.perf_counter() - t0) * 1000
                    if status != 200:
                        load.errors.append(f"{targets[name]}?prefix={prefix}: HTTP {status}")
                    elif json.loads(body)["prefix"] != prefix:
                        load.errors.append(f"{targets[name]}?prefix={prefix}: other prefix")
                    elif training.is_set():
                        load.latencies[name].append(ms)
                    else:
                        load.late += 1
                    await asyncio.sleep(THINK)

            t0 = time.perf_counter()
            answers = await train_all(client, ids, steps)
            if [x["status"] for x in answers] != ["training", "training"]:
                raise AppError(f"train answers: {[(x['id'], x['status']) for x in answers]}")
            watcher = asyncio.create_task(monitor(t0))
            await asyncio.wait_for(training.wait(), 60)
            l0, web0, client0 = time.perf_counter(), cpu_seconds(pid), time.process_time()
            await asyncio.gather(*(user_loop(u, user) for u, user in enumerate(users)))
            load.seconds = time.perf_counter() - l0
            load.web_cpu = cpu_seconds(pid) - web0
            load.client_cpu = time.process_time() - client0
            counted = sum(len(v) for v in load.latencies.values())
            load.stopped_early = counted + len(load.errors) < USERS * per_user
            await watcher
            await check_done(client, ids, steps)
        finally:
            for user in users:
                user.close()
            await delete_runs(client, ids)
    return load


# ---- the server, and the report ----


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux): the server's training processes."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return out


def stop(proc: subprocess.Popen) -> None:
    kids = children(proc.pid)
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        print(f"  the server (pid {proc.pid}) did not stop in 20 s: killed", file=sys.stderr)
        proc.kill()
        proc.wait(10)
    deadline = time.monotonic() + 5  # e.g. multiprocessing's resource tracker exits after it
    while (
        left := [k for k in kids if Path(f"/proc/{k}").exists()]
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    for k in left:
        cmd = Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        print(f"  a process of the server still runs 5 s after it stopped: {k} {cmd[:120]}")


def seconds(values: list[float | None]) -> str:
    return ", ".join("-" if v is None else f"{v:.2f}" for v in values)


async def bench(args, url: str, pid: int) -> tuple[dict[int, list[Case]], Load]:
    cases: dict[int, list[Case]] = {n: [] for n in CASES}
    async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
        workers = expect(await client.get("/api/runs"), 200, "GET /api/runs").json()
        if workers.get("workers") != WORKERS:
            raise AppError(f"GET /api/runs says workers {workers.get('workers')}, not {WORKERS}")
        await case(client, 1, args.warmup_steps)  # not counted
        for i in range(args.rounds):
            for n in CASES:
                c = await case(client, n, args.steps)
                cases[n].append(c)
                print(
                    f"  round {i + 1}, {n} run(s): {c.wall:.2f} s (answers "
                    f"{', '.join(c.answers)}; seen training at {seconds(c.starts)}, "
                    f"idle at {seconds(c.ends)}, elapsed {seconds(c.elapsed)} s)",
                    file=sys.stderr,
                    flush=True,
                )
    load = await predict_load(url, pid, args.steps, args.requests)
    return cases, load


def report(args, cases: dict[int, list[Case]], load: Load, loadavg: float) -> None:
    walls = {n: statistics.median(c.wall for c in cases[n]) for n in CASES}
    alone = walls[1]
    print(f"\nRuns at once, {WORKERS} workers, {args.steps}-step runs of the default shape")
    print(
        f"({os.cpu_count()} cores, load average {loadavg:.1f} -> {os.getloadavg()[0]:.1f}; "
        f"cases alternating, {args.rounds} round(s) each; wall: first train POST -> every run "
        f"idle at step {args.steps}, polled every {POLL * 1000:.0f} ms)\n"
    )
    rows = []
    for n in CASES:
        rows.append(
            {
                "condition": f"{n} run{'s' if n > 1 else ''} at once",
                "wall": walls[n],
                "ratio": walls[n] / alone,
                "rounds": ", ".join(f"{c.wall:.2f}" for c in cases[n]),
                "per_run": statistics.median(e for c in cases[n] for e in c.elapsed),
                "ok": f"{n * len(cases[n])}/{n * len(cases[n])}",
            }
        )
    cols = [
        ("wall", "median wall s", ".2f"),
        ("ratio", "ratio to 1 alone", ".2f"),
        ("per_run", "run elapsed s", ".2f"),
        ("ok", "idle at last step", ""),
        ("rounds", "walls s", ""),
    ]
    print_table(rows, cols, "case")
    print("  (run elapsed: median of the runs' own training time, SegmentInfo.elapsed)")
    queued = [
        (est, start)
        for c in cases[4]
        for est, start, a in zip(c.estimates, c.starts, c.answers, strict=True)
        if a == "queued"
    ]
    if queued:
        print("  4 runs, queued ones: estimated wait (train answer) -> seen training, s:")
        print("    " + ", ".join(f"{e:.2f} -> {s:.2f}" for e, s in queued if e is not None))
    elapsed_alone = statistics.median(e for c in cases[1] for e in c.elapsed)
    spec = state_seconds()
    print(
        f"\n  seconds per step, default shape: {alone / args.steps:.4f} s "
        f"({args.steps / alone:.1f} steps/s; 1 run alone, wall / {args.steps}); "
        f"{elapsed_alone / args.steps:.4f} s from the run's own elapsed time; "
        f"app.runs.estimates.DEFAULT_STEP_SECONDS = {spec}"
    )

    print(
        f"\n/api/runs/{{id}}/predict and /api/predict while 2 runs train: {USERS} users, "
        f"{THINK * 1000:.0f} ms between each one's requests, at most {args.requests} each, "
        f"{len(VARIED)} prefixes"
    )
    every = [ms for v in load.latencies.values() for ms in v]
    rows = []
    for name, values in [*load.latencies.items(), ("all", every)]:
        rows.append(
            {
                "condition": name,
                "n": len(values),
                "p50": statistics.median(values) if values else float("nan"),
                "p99": pct(values, 99),
                "max": max(values, default=float("nan")),
            }
        )
    cols = [("n", "   n", "d"), ("p50", "p50 ms", ".1f"), ("p99", "p99 ms", ".1f")]
    cols.append(("max", "max ms", ".1f"))
    print()
    print_table(rows, cols, "endpoint")
    rate = len(every) / load.seconds if load.seconds else float("nan")
    print(
        f"  {len(every)} requests in {load.seconds:.2f} s ({rate:.0f}/s); "
        f"{'a run ended before the users were done; ' if load.stopped_early else ''}"
        f"{load.late} answered after a run ended (not counted); errors: "
        f"{len(load.errors)}{' ' + '; '.join(load.errors[:5]) if load.errors else ''}"
    )
    two = walls[2]
    n = max(len(every) + load.late + len(load.errors), 1)
    print(
        f"  CPU during the load: web process {load.web_cpu:.2f} s "
        f"({load.web_cpu / load.seconds:.2f} of a core, {load.web_cpu / n * 1000:.2f} ms per "
        f"request), this load generator {load.client_cpu:.2f} s"
    )
    print(
        f"  the 2 runs under this load: {load.wall:.2f} s wall "
        f"({load.wall / two:.2f}x the 2 runs without it)"
    )
    p99 = pct(every, 99)
    verdict = "PASS" if p99 <= P99_BAR_MS and not load.errors else "FAIL"
    print(f"  predict p99 {p99:.1f} ms: {verdict} (bar <= {P99_BAR_MS:g} ms, no errors)")
    summary = {
        "wall_s": {n: round(walls[n], 3) for n in CASES},
        "ratio": {n: round(walls[n] / alone, 3) for n in CASES},
        "step_seconds": round(alone / args.steps, 5),
        "step_seconds_elapsed": round(elapsed_alone / args.steps, 5),
        "predict_p50_ms": round(statistics.median(every), 2) if every else None,
        "predict_p99_ms": round(p99, 2),
        "predict_max_ms": round(max(every, default=float("nan")), 2),
    }
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each case, alternating")
    parser.add_argument(
        "--requests", type=int, default=40, help="predict requests per user (at most)"
    )
    parser.add_argument("--warmup-steps", type=int, default=20, help="first run, not counted")
    parser.add_argument(
        "--quick", action="store_true", help="a fast check: 100 steps, 1 round, 10 requests each"
    )
    args = parser.parse_args()
    if args.quick:
        args.steps, args.rounds, args.requests = 100, 1, 10
    if args.steps < 20:
        parser.error("--steps must be at least 20")

    loadavg = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as data_dir:
        proc, url = start_server(data_dir, env={"MICROGPT_WORKERS": str(WORKERS)})
        try:
            cases, load = asyncio.run(bench(args, url, proc.pid))
        except AppError as e:
            raise SystemExit(f"the app misbehaved: {e}") from None
        finally:
            stop(proc)
    report(args, cases, load, loadavg)


if __name__ == "__main__":
    main()
