"""The service path against the bare engine: 500 steps through the API vs ``python -m engine
train``, side by side; and the training process's time per step, by part.

    .venv/bin/python bench/service_path.py [--rounds 5] [--steps 500] [--repo DIR]
        [--sections side,parts]

1. **side** — one server (``python -m app``, loopback, temporary data dir) and the CLI, run
   alternately (CLI, API, API, CLI, ...: ABBA, so a drift of the machine's load hits both
   alike). CLI: ``python -m engine train --steps N``, launch to exit (its own start-up, the
   step's compile, the held-out loss and 20 samples included). API: a fresh default model
   (``POST /api/reset``, seed 42), a reader on ``/api/events`` (as a page has), then timed
   from ``POST /api/train`` until the stream's ``done`` (the training process's start, the
   step's compile, every step's messages and the web's handling of them included). Printed:
   each side's median wall time and CPU seconds (the CLI's process; the API's training
   process), and their ratio, API / CLI (goal: <= 1.15). ``--repo`` runs both from another
   checkout (e.g. an older revision, for a before/after).
2. **parts** — the training process's loop (app.jobs.loop.TrainerProcess) driven here in
   one process for N steps, its messages pickled through a real pipe to a reader process
   that unpickles them (as the web's reader does); each part's own CPU time (exclusive of the
   parts it calls) per step: engine (the step), instruments (probes, matrix health, held-out
   loss: app.jobs.instruments), event (building the StepEvent), messages (pickling + writing),
   checkpoints (their JSON and messages: what the web stores), frames (params frames), and
   the rest (of ``--repo``'s loop: the parts an older loop has no method for count in the
   rest). Twice: the instruments measured inline, then by the helper process (its time
   is not the training process's: "to helper" and "from helper" are what handing them over
   costs).
"""

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _support import REPO, SEED, TrainerWatch, start_server, wait_idle


def cli_run(repo: Path, steps: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one ``python -m engine train``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "engine", "train", "--steps", str(steps), "--seed", str(SEED)],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def read_until(reader: asyncio.StreamReader, name: bytes, buf: bytes) -> bytes:
    """Read SSE messages until one named ``name``; returns what is left of the buffer."""
    while True:
        *messages, buf = buf.split(b"\r\n\r\n")
        if any(b"event: " + name + b"\r\n" in m for m in messages):
            return buf
        chunk = await reader.read(65536)
        if not chunk:
            raise SystemExit(f"the stream ended before its {name.decode()} event")
        buf += chunk


async def api_run(url: str, steps: int) -> tuple[float, float, float]:
    """Wall seconds from ``POST /api/train`` until the stream's ``done`` on a fresh default
    model, the training process's CPU seconds by then, and the seconds until the first step."""
    host, port = url.removeprefix("http://").split(":")
    with httpx.Client(base_url=url, timeout=30) as client:
        wait_idle(client)
        client.post("/api/reset", json={"seed": SEED}).raise_for_status()
        wait_idle(client)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        buf = await read_until(reader, b"status", b"")  # subscribed
        t0 = time.perf_counter()
        answer = client.post("/api/train", json={"steps": steps})
        answer.raise_for_status()
        watch = TrainerWatch(url, answer.json()["worker_pid"])
        watch.start()
        buf = await read_until(reader, b"step", buf)
        first = time.perf_counter() - t0
        await read_until(reader, b"done", buf)
        wall = time.perf_counter() - t0
        watch.stop.set()
        watch.join()
        cpu = watch.cpu
        writer.close()
        state = wait_idle(client)
        if state["step"] != steps:
            raise SystemExit(f"the run ended at step {state['step']}, not {steps}")
    return wall, cpu, first


def side_by_side(repo: Path, rounds: int, steps: int) -> None:
    walls: dict[str, list[float]] = {"cli": [], "api": []}
    firsts: list[float] = []
    cpus: dict[str, list[float]] = {"cli": [], "api": []}
    with tempfile.TemporaryDirectory() as data_dir:
        proc, url = start_server(data_dir, repo)
        try:
            asyncio.run(api_run(url, steps))  # warm-up: the forkserver, the first imports
            for r in range(rounds):
                order = ("cli", "api") if r % 2 == 0 else ("api", "cli")
                for side in order:
                    if side == "cli":
                        wall, cpu = cli_run(repo, steps)
                    else:
                        wall, cpu, first = asyncio.run(api_run(url, steps))
                        firsts.append(first)
                    walls[side].append(wall)
                    cpus[side].append(cpu)
                    print(f"  round {r + 1} {side}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        finally:
            proc.terminate()
            proc.wait(20)
    cli, api = (statistics.median(walls[s]) for s in ("cli", "api"))
    ratios = [a / c for a, c in zip(walls["api"], walls["cli"], strict=True)]
    print(f"\n{steps} steps, {rounds} rounds alternating ({repo}):")
    print(f"  CLI  median {cli:.2f} s wall, {statistics.median(cpus['cli']):.2f} s CPU")
    print(
        f"  API  median {api:.2f} s wall, {statistics.median(cpus['api']):.2f} s CPU (trainer), "
        f"{statistics.median(firsts):.2f} s to the first step"
    )
    print(
        f"  API / CLI  {api / cli:.2f}x (per round: {min(ratios):.2f}-{max(ratios):.2f}) "
        f"{'PASS' if api / cli <= 1.15 else 'FAIL'} (goal <= 1.15x)"
    )
    cpu_ratio = statistics.median(cpus["api"]) / statistics.median(cpus["cli"])
    print(
        f"  API / CLI  {cpu_ratio:.2f}x in CPU seconds (the training process against the CLI's: "
        "what a busy machine disturbs least)"
    )
    figures = {"cli_s": cli, "api_s": api, "ratio": api / cli, "cpu_ratio": cpu_ratio}
    print(json.dumps({name: round(value, 3) for name, value in figures.items()}))


CLOCK = time.process_time  # the parts' CPU time: what a busy neighbour disturbs least


class PartClock:
    """Exclusive CPU time per part: a part's time excludes the parts it calls."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.stack: list[list] = []  # [part, started, time of the parts called]

    def wrap(self, owner: object, attr: str, part: str) -> None:
        inner = getattr(owner, attr)
        clock = self

        def timed(*args, **kwargs):
            clock.stack.append([part, CLOCK(), 0.0])
            try:
                return inner(*args, **kwargs)
            finally:
                name, started, nested = clock.stack.pop()
                spent = CLOCK() - started
                clock.totals[name] = clock.totals.get(name, 0.0) + spent - nested
                if clock.stack:
                    clock.stack[-1][2] += spent

        setattr(owner, attr, timed)


def drain(conn) -> None:
    """Read and unpickle every message until the pipe closes (in a process of its own)."""
    try:
        while True:
            conn.recv()
    except EOFError:
        pass


def parts(repo: Path, steps: int, helper: bool) -> None:
    sys.path.insert(1, str(repo))
    import multiprocessing

    from app.jobs import loop
    from engine import Trainer

    clock = PartClock()
    process = loop.TrainerProcess
    clock.wrap(Trainer, "train_step", "engine")
    owners = [(process, a, p) for a, p in (("send_frame", "frames"), ("save", "checkpoints"))]
    owners += [(process, "send_validation", "validation")]  # a run's first held-out loss
    owners += [(loop, "step_event", "event")]  # the StepEvent, from the step and its instruments
    try:  # this checkout's instruments; an older loop's parts count in its rest
        from app.jobs import instruments

        owners += [(instruments, "measure", "instruments")]  # probes, health, held-out loss
        owners += [(instruments.Helper, "submit", "to helper")]  # a step's arrays, pickled
        owners += [(instruments.Helper, "result", "from helper")]  # waiting, unpickling
    except ImportError:
        pass
    for owner, attr, part in owners:
        if hasattr(owner, attr):
            clock.wrap(owner, attr, part)
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    reader = ctx.Process(target=drain, args=(recv,), daemon=True)  # the web's reader, elsewhere
    reader.start()
    recv.close()
    sent, write = [0], send.send

    def counted(message) -> None:
        sent[0] += 1
        write(message)

    send.send = counted
    clock.wrap(send, "send", "messages")  # pickled and written to the web's pipe
    worker = process(Trainer(), send, {"helper": helper})
    worker.handle("train", {"run_id": 1, "steps": steps})
    clock.totals.clear()
    t0, cpu0 = CLOCK(), time.process_time()
    clock.wrap(worker, "one_step", "rest")
    while worker.running:
        worker.one_step()
    worker.outbox.flush()
    total, cpu = CLOCK() - t0, time.process_time() - cpu0
    worker.outbox.close()
    send.close()
    reader.join()
    where = "the helper process measures" if helper else "measured inline"
    print(f"\nthe training process's loop ({where}), {steps} steps, {sent[0]} messages, per step:")
    for part, spent in sorted(clock.totals.items(), key=lambda kv: -kv[1]):
        print(f"  {part:<12} {spent / steps * 1e3:7.3f} ms  {spent / total:6.1%}")
    extras = total - clock.totals.get("engine", 0.0)
    print(f"  {'total':<12} {total / steps * 1e3:7.3f} ms  (extras over the engine: ", end="")
    print(f"{extras / steps * 1e3:.3f} ms, {extras / (total - extras):.1%}); ", end="")
    print(f"CPU {cpu / steps * 1e3:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to run")
    parser.add_argument("--sections", default="side,parts")
    args = parser.parse_args()
    print(f"microgpt-live: the service path ({os.cpu_count()} cores)")
    sections = args.sections.split(",")
    if "side" in sections:
        side_by_side(args.repo.resolve(), args.rounds, args.steps)
    if "parts" in sections:
        parts(args.repo.resolve(), args.steps, helper=False)
        parts(args.repo.resolve(), args.steps, helper=True)


if __name__ == "__main__":
    main()
