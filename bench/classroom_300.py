"""A room of 300: students join a class, each trains 100 steps on ``workers`` = 2, while the
teacher's page, the projector and every student's page stream.

    .venv/bin/python bench/classroom_300.py [--students 300] [--steps 100] [--workers 2]
        [--arrival SECONDS]

Starts ``python -m app`` (loopback, temporary data dir). The teacher makes a class (each
student their own seed); ``--students`` clients, each with its own cookie jar, join it at
once (their **join latency**, p50/p95: goal p95 <= 300 ms), or, with ``--arrival S``, each at
a random moment of the first S seconds (as a room types a code it was just shown). Each then
holds its page's stream open (``GET /api/runs/{run}/events``, read as fast as it comes); the
projector holds the spotlighted run's stream, and the teacher's page polls what it polls (the
class chart, ``/api/classes/{code}/curves``, and the roster, ``/ui/classes/{code}/roster``)
every 2 s. The teacher presses Start all; the wall time runs until every student's run is
idle at ``--steps`` steps.

The teacher page's **update lag**: each poll of the roster (what the page shows) minus the
newest step the students' streams had received when the poll was sent, in steps, turned
into seconds at the class's measured pace; p95, goal <= 1 s. Also the web process's CPU
seconds and peak resident memory during the training, whether every stream saw its run's
last step (nothing lost), and the wall time against ``students * steps`` steps of the bare
engine (``engine.Trainer``, same shape, one process) divided by the workers.
"""

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_load import cpu_seconds  # noqa: E402  (bench/predict_load.py)
from service import pct, rss_mb, start_server  # noqa: E402

from engine import Trainer  # noqa: E402

POLL_SECONDS = 2.0


def bare_engine_seconds(steps: int) -> float:
    """Seconds per step of the bare engine (microgpt's default shape)."""
    trainer = Trainer()
    trainer.begin_run(steps)
    start = time.perf_counter()
    for _ in trainer.steps():
        pass
    return (time.perf_counter() - start) / steps


async def join(
    url: str, code: str, name: str, out: list[float], delay: float = 0.0
) -> tuple[httpx.AsyncClient, int]:
    client = httpx.AsyncClient(base_url=url, timeout=60)
    await client.get("/healthz")
    await asyncio.sleep(delay)
    start = time.perf_counter()
    answer = await client.post(f"/api/classes/{code}/join", json={"name": name})
    out.append(time.perf_counter() - start)
    answer.raise_for_status()
    await client.get("/")  # the page's first visit: the identity cookie settles
    return client, answer.json()["run"]


async def stream(
    client: httpx.AsyncClient, run: int, seen: dict, stop: asyncio.Event, reconnects: list
):
    """A page's stream: the newest step it has been told of, in ``seen[run]``. Like a page's,
    it reconnects when the server closes it, with the id of the last event it read (counted
    in ``reconnects``)."""
    last_id = None
    while not stop.is_set():
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with client.stream("GET", f"/api/runs/{run}/events", headers=headers) as r:
                async for line in r.aiter_lines():
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("data:") and '"step":' in line:
                        match = re.search(r'"step":\s*(\d+)', line)
                        if match:
                            seen[run] = max(seen.get(run, 0), int(match.group(1)))
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            pass
        if not stop.is_set():
            reconnects.append(run)
            await asyncio.sleep(1.0)  # a page's EventSource retry


async def teacher_polls(teacher, code, seen, lags, stop):
    while not stop.is_set():
        sent_max = max(seen.values(), default=0)
        roster = (await teacher.get(f"/api/classes/{code}")).json()
        await teacher.get(f"/api/classes/{code}/curves")
        shown = max((m["step"] for m in roster["members"]), default=0)
        lags.append(max(0, sent_max - shown))
        await asyncio.sleep(POLL_SECONDS)


async def bench(args) -> None:
    with tempfile.TemporaryDirectory() as data:
        # the join throttle (a burst of 100, then 3 a second) raised: 300 join at once here
        env = {"MICROGPT_WORKERS": str(args.workers), "MICROGPT_CLASS_JOIN_BURST": "1000"}
        proc, url = start_server(data, env=env)
        try:
            await room(args, url, proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)


async def room(args, url: str, pid: int) -> None:
    teacher = httpx.AsyncClient(base_url=url, timeout=120)
    await teacher.get("/")
    limits = {"steps_per_run": max(args.steps, 1)}
    made = (
        await teacher.post(
            "/api/classes",
            json={"name": "Room of 300", "preset": {"steps": args.steps}, "limits": limits},
        )
    ).json()
    code = made["code"]
    joins: list[float] = []
    arrivals = random.Random(1)
    students = await asyncio.gather(
        *(
            join(url, code, f"Student {i}", joins, arrivals.uniform(0, args.arrival))
            for i in range(args.students)
        )
    )
    await teacher.put(f"/api/classes/{code}/spotlight", json={"run": students[0][1]})
    seen: dict[int, int] = {}
    stop = asyncio.Event()
    reconnects: list[int] = []
    readers = [asyncio.create_task(stream(c, run, seen, stop, reconnects)) for c, run in students]
    projector = httpx.AsyncClient(base_url=url, timeout=None)
    readers.append(asyncio.create_task(stream(projector, students[0][1], {}, stop, [])))
    lags: list[int] = []
    poller = asyncio.create_task(teacher_polls(teacher, code, seen, lags, stop))
    await asyncio.sleep(1)

    cpu0, peak = cpu_seconds(pid), rss_mb(pid)
    start = time.perf_counter()
    await teacher.post(f"/api/classes/{code}/train")
    while True:
        members = (await teacher.get(f"/api/classes/{code}")).json()["members"]
        peak = max(peak, rss_mb(pid))
        if all(m["step"] >= args.steps and m["status"] == "idle" for m in members):
            break
        await asyncio.sleep(1)
    wall = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu0
    deadline = time.monotonic() + 15  # the streams' last events (a reader may lag behind)
    while time.monotonic() < deadline:
        if all(seen.get(run, 0) >= args.steps for _, run in students):
            break
        await asyncio.sleep(0.2)
    stop.set()
    for task in [*readers, poller]:
        task.cancel()
    lost = sum(1 for _, run in students if seen.get(run, 0) < args.steps)

    per_step = bare_engine_seconds(args.steps)
    bare = per_step * args.students * args.steps / args.workers
    pace = args.students * args.steps / wall  # steps a second, the whole class
    lag_seconds = [lag * args.students / pace for lag in lags]  # a run's steps at its pace
    print(f"students {args.students}, steps {args.steps}, workers {args.workers}")
    when = f"over {args.arrival:g} s" if args.arrival else "at once"
    print(
        f"join latency p50 {pct(joins, 50) * 1000:.0f} ms, p95 {pct(joins, 95) * 1000:.0f} ms "
        f"({args.students} joining {when})"
    )
    print(f"teacher update lag p95 {pct(lag_seconds, 95):.2f} s (polls every {POLL_SECONDS} s)")
    print(f"web process: {cpu:.1f} CPU s during training, peak RSS {peak:.0f} MB")
    print(
        f"streams that missed their run's last step: {lost} "
        f"(15 s after the end; {len(reconnects)} reconnects, as a page's)"
    )
    print(
        f"wall {wall:.1f} s vs bare engine {bare:.1f} s "
        f"({per_step * 1000:.1f} ms/step x {args.students * args.steps} / {args.workers})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--arrival", type=float, default=0.0, help="seconds the joins spread over")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
