"""Viewing past steps: /api/predict?step=k latency over a long history, and what it costs on disk.

    .venv/bin/python bench/time_travel.py [--steps 5000] [--requests 300] [--views 40]

Starts one server (``python -m app``, loopback, temporary data dir), trains ``--steps`` steps at
full speed (a 5,000-step history takes 2-3 minutes here), then asks
``GET /api/predict?prefix=em&step=k`` for ``--requests`` random k (seeded), one at a time, as a
scrubbing page would: the first request for a step reads its weights from SQLite and builds a
model (the service keeps the last 16 built), so random k over a long history is the slow case.
For comparison it asks the same number of times without ``step`` (the newest weights, cached).
Reports p50/p95/max of both and the ratio of p95s; bar: p95 <= 100 ms for random k.
Then ``--views`` random k each for what a page viewing step k asks: ``GET /ui/view?step=k&
prefix=em`` (the step replayed for the recipe, the probe card, "Ask the model") and ``GET
/api/params.bin?step=k`` (the Parameters panel: the step's gradient replayed, Adam's m and v
replayed from the checkpoint before it, up to ``checkpoint_every`` - 1 steps).

Disk: the size of the ``weights`` table's data (every step's weights, 4,064 float64 = 32,512
bytes for the default model), of ``moments`` (m and v at every checkpoint) and ``probes`` (each
step's probe distributions), and of the whole database file, per 1,000 steps.
"""

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
from _support import pct, start_server, wait_idle

BAR_MS = 100.0


def latencies(
    client: httpx.Client, url: str, params: list[dict], path: str = "/api/predict"
) -> list[float]:
    out = []
    for p in params:
        t0 = time.perf_counter()
        r = client.get(url + path, params=p)
        out.append((time.perf_counter() - t0) * 1e3)
        if r.status_code != 200:
            raise SystemExit(f"{p}: {r.status_code} {r.text}")
    return out


def disk(data_dir: str) -> dict[str, int]:
    """Bytes of stored weights, moments and probes, and of the database file (with its WAL)."""
    path = Path(data_dir) / "microgpt.sqlite3"
    sizes = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        for table, columns in (
            ("weights", "data"),
            ("moments", "m) + LENGTH(v"),
            ("probes", "probs"),
        ):
            sql = f"SELECT COALESCE(SUM(LENGTH({columns})), 0) FROM {table}"
            sizes[table] = db.execute(sql).fetchone()[0]
    sizes["database"] = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--views", type=int, default=40)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        proc, url = start_server(data_dir)
        try:
            with httpx.Client(timeout=60) as client:
                t0 = time.perf_counter()
                r = client.post(url + "/api/train", json={"steps": args.steps})
                r.raise_for_status()
                state = wait_idle(client, url)
                trained = time.perf_counter() - t0
                rng = random.Random(1)
                past = [
                    {"prefix": "em", "step": rng.randint(0, state["step"])}
                    for _ in range(args.requests)
                ]
                newest = [{"prefix": "em"}] * args.requests
                latencies(client, url, past[:10] + newest[:10])  # warm-up
                at_k = latencies(client, url, past)
                now = latencies(client, url, newest)
                viewed = [{"step": rng.randint(0, state["step"])} for _ in range(args.views)]
                views = latencies(client, url, [{**v, "prefix": "em"} for v in viewed], "/ui/view")
                params = latencies(client, url, viewed, "/api/params.bin")
            sizes = disk(data_dir)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    steps = state["step"]
    print(f"history: {steps} steps, trained in {trained:.0f} s ({steps / trained:.1f} steps/s)")
    print(f"{'GET /api/predict?prefix=em':<36}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}")
    for name, xs in ((f"&step=k, k random in 0..{steps}", at_k), ("newest (no step)", now)):
        print(f"  {name:<34}{pct(xs, 50):>8.1f}{pct(xs, 95):>8.1f}{max(xs):>8.1f}")
    verdict = "PASS" if pct(at_k, 95) <= BAR_MS else "FAIL"
    ratio = pct(at_k, 95) / pct(now, 95)
    print(f"p95 ratio (step=k / newest): {ratio:.1f}x; {verdict} (bar: p95 <= {BAR_MS:.0f} ms)")
    print(f"{'a page viewing step k (random k)':<36}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}")
    for name, xs in (
        ("GET /ui/view?step=k&prefix=em", views),
        ("GET /api/params.bin?step=k", params),
    ):
        print(f"  {name:<34}{pct(xs, 50):>8.1f}{pct(xs, 95):>8.1f}{max(xs):>8.1f}")
    per_k = 1000 / max(steps, 1) / 2**20
    parts = ", ".join(f"{t} {sizes[t] * per_k:.2f} MiB" for t in ("weights", "moments", "probes"))
    total = sizes["database"]
    print(
        f"disk per 1,000 steps: {parts}; whole database {total * per_k:.1f} MiB "
        f"({steps} steps: {total / 2**20:.0f} MiB in all)"
    )


if __name__ == "__main__":
    main()
