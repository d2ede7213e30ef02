"""History on disk and time travel from it, this checkout side by side with release 86eccc1
(every step's weights stored) in one run.

    .venv/bin/python bench/history_disk.py [--steps 1000] [--long 5000] [--large 200]
                                           [--requests 40] [--write-steps 300] [--only new]

For each release (the old one's files extracted with ``git archive`` and served with the same
interpreter):
- disk: bytes the data directory grows by (database, WAL and shared memory, the server stopped)
  per 1,000 steps of the default shape (``--steps`` trained) and of the largest shape the form
  allows (n_embd 32, 2 layers, context 16: ``--large`` steps, scaled to 1,000);
- time travel on a freshly started server (nothing rebuilt in memory), over a ``--steps`` and a
  ``--long`` step history: p50/p95 of ``/api/predict?step=k`` and ``/ui/view?step=k`` at
  random k, p95 of ``/api/params.bin?step=k``, and a scrub (20 consecutive steps: p95 and
  total);
- writes: the web process's ``write_bytes`` and ``wchar`` (/proc/PID/io) per trained step
  while 2 runs train ``--write-steps`` each at once (``wchar`` also counts the pipes to the
  training processes, the same in both releases; ``write_bytes`` is what reaches the disk).

``--migration N`` instead: the old release trains N steps, then this checkout opens its data
directory (schema 9 → 10: every step's weights thinned, checked by replay, then VACUUM): the
time it takes, the file before and after, and the most the directory and SQLite's temporary
files held meanwhile.
"""

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _support import REPO, pct, start_server

RELEASE = "86eccc1"  # the release before kept states: every step's weights stored
LARGEST = {"n_embd": 32, "n_head": 4, "n_layer": 2, "block_size": 16}


def extract(commit: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def db_bytes(data: Path) -> int:
    return sum(p.stat().st_size for p in data.iterdir() if p.name.startswith("microgpt.sqlite3"))


class Server:
    def __init__(self, tree: Path, data: Path):
        self.tree, self.data = tree, data
        self.proc, self.url, self.client = None, "", None

    def start(self) -> "Server":
        self.proc, self.url = start_server(str(self.data), self.tree)
        self.client = httpx.Client(base_url=self.url, timeout=300)
        return self

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(60)

    def new_run(self, **settings) -> int:
        r = self.client.post("/api/runs", json={"seed": 42, **settings})
        r.raise_for_status()
        return r.json()["id"]

    def train(self, run: int, steps: int) -> None:
        self.client.post(f"/api/runs/{run}/train", json={"steps": steps}).raise_for_status()

    def wait_idle(self, run: int, step: int, timeout: float = 3600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                s = self.client.get(f"/api/runs/{run}/state").json()
            except httpx.TransportError:  # a busy machine's dropped connection: ask again
                s = {"status": "?"}
            if s["status"] == "idle" and s["step"] == step:
                return
            time.sleep(0.2)
        raise SystemExit(f"run {run} never reached step {step}")

    def io(self) -> dict[str, int]:
        lines = Path(f"/proc/{self.proc.pid}/io").read_text().splitlines()
        return {k: int(v) for k, v in (line.split(": ") for line in lines)}


def ms(client: httpx.Client, path: str) -> float:
    t0 = time.perf_counter()
    try:
        r = client.get(path)
    except httpx.TransportError:  # a connection dropped on a busy machine: once more
        r = client.get(path)
    r.raise_for_status()
    return (time.perf_counter() - t0) * 1000


def travel(server: Server, run: int, steps: int, requests: int) -> dict[str, float]:
    """Cold time travel over ``steps`` steps of ``run`` (the server just started)."""
    rng = random.Random(7)
    c, base = server.client, f"/api/runs/{run}"
    predict = [
        ms(c, f"{base}/predict?prefix=em&step={rng.randint(1, steps)}") for _ in range(requests)
    ]
    view = [
        ms(c, f"/ui/runs/{run}/view?step={rng.randint(1, steps)}&prefix=em")
        for _ in range(requests)
    ]
    params = [
        ms(c, f"{base}/params.bin?step={rng.randint(1, steps)}") for _ in range(requests // 2)
    ]
    start = rng.randint(1, steps - 20)
    t0 = time.perf_counter()
    scrub = [ms(c, f"{base}/predict?prefix=em&step={k}") for k in range(start, start + 20)]
    total = (time.perf_counter() - t0) * 1000
    return {
        "predict p50": pct(predict, 50),
        "predict p95": pct(predict, 95),
        "view p50": pct(view, 50),
        "view p95": pct(view, 95),
        "params.bin p95": pct(params, 95),
        "scrub p95": pct(scrub, 95),
        "scrub total": total,
    }


def grown_per_1000(server: Server, run: int, steps: int) -> float:
    """Bytes the data directory grows by (server stopped) per 1,000 steps of ``run``; the
    server is started again after."""
    server.stop()
    before = db_bytes(server.data)
    server.start()
    server.train(run, steps)
    server.wait_idle(run, steps)
    server.stop()
    grown = db_bytes(server.data) - before
    server.start()  # nothing cached
    return grown * 1000 / steps


def measure(tree: Path, work: Path, args) -> dict[str, float]:
    out: dict[str, float] = {}
    server = Server(tree, work / "data").start()
    run = server.new_run()
    out["default bytes / 1000 steps"] = grown_per_1000(server, run, args.steps)
    out |= {
        f"{k} ({args.steps})": v for k, v in travel(server, run, args.steps, args.requests).items()
    }
    large = server.new_run(**LARGEST)
    out["largest bytes / 1000 steps"] = grown_per_1000(server, large, args.large)
    runs = [server.new_run(), server.new_run()]
    io = server.io()
    for r in runs:
        server.train(r, args.write_steps)
    for r in runs:
        server.wait_idle(r, args.write_steps)
    after = server.io()
    for key in ("write_bytes", "wchar"):
        out[f"web {key} / step"] = (after[key] - io[key]) / (2 * args.write_steps)
    if args.long:
        server.train(run, args.long - args.steps)
        server.wait_idle(run, args.long)
        server.stop()
        server.start()
        long = travel(server, run, args.long, args.requests)
        out |= {f"{k} ({args.long})": v for k, v in long.items()}
    server.stop()
    return out


def migration(steps: int, work: Path) -> dict[str, float]:
    """The old release's ``steps``-step history migrated by this checkout's store."""
    server = Server(extract(RELEASE, work / "old-tree"), work / "data").start()
    run = server.new_run()
    server.train(run, steps)
    server.wait_idle(run, steps)
    server.stop()
    before = db_bytes(server.data)
    temp = work / "sqlite-tmp"
    temp.mkdir()
    os.environ["SQLITE_TMPDIR"] = str(temp)  # VACUUM's copy, where it can be measured
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            used = db_bytes(server.data) + sum(p.stat().st_size for p in temp.iterdir())
            peak[0] = max(peak[0], used)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    from app.store import Store

    t0 = time.perf_counter()
    Store(server.data / "microgpt.sqlite3").close()
    seconds = time.perf_counter() - t0
    done.set()
    watcher.join()
    return {
        f"migration s ({steps} steps)": seconds,
        "file before (bytes)": before,
        "file after (bytes)": db_bytes(server.data),
        "peak extra disk (bytes)": peak[0] - before,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--long", type=int, default=5000, help="0: skip the long history")
    p.add_argument("--large", type=int, default=200)
    p.add_argument("--requests", type=int, default=40)
    p.add_argument("--write-steps", type=int, default=300)
    p.add_argument("--only", choices=("new", "old"))
    p.add_argument("--migration", type=int, default=0, help="only time a migration of N steps")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="history-disk-"))
    try:
        if args.migration:
            for key, value in migration(args.migration, work).items():
                print(f"{key:40}{value:16,.1f}")
            return
        results = {}
        if args.only != "old":
            results["this checkout"] = measure(REPO, work / "new", args)
            print("this checkout:", results["this checkout"], flush=True)  # kept if the next fails
        if args.only != "new":
            old = extract(RELEASE, work / "old-tree")
            results[RELEASE] = measure(old, work / "old", args)
        names = list(results)
        print(f"{'':40}" + "".join(f"{n:>16}" for n in names))
        for key in results[names[0]]:
            print(f"{key:40}" + "".join(f"{results[n][key]:16,.1f}" for n in names))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
