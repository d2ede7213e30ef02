"""Service benchmark: prediction latency (idle and while training) and SSE fan-out.

    .venv/bin/python bench/service.py [--clients 200] [--steps 500]

Starts ``python -m app`` on a free loopback port with a temporary data dir, then measures:

1. ``GET /api/predict?prefix=em`` latency, idle (sequential requests on one keep-alive
   connection), and while a ``--steps`` run trains (bar: p99 <= 50 ms on a 2-core machine);
2. SSE fan-out: ``--clients`` concurrent raw-socket clients on ``/api/events`` receive every
   step of a ``--steps`` run; lag = arrival time - the step's ``t`` (set by the worker when the
   step ended); each client must see every step exactly once;
3. the web process's and the training process's resident memory (peak during the fan-out).

The clients share this one process and its CPU with nothing else, but the machine's cores are
shared with the web process and the trainer, so the lag includes that contention.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time

import httpx
from _support import pct, rss_mb, start_server, wait_idle

STEP_RE = re.compile(rb'"step":(\d+),')
T_RE = re.compile(rb'"t":([0-9.e+-]+)')


def predict_latency(url: str, steps: int) -> tuple[list[float], list[float], float]:
    """Latencies (ms) idle, then during a run; and the run's steps per second."""
    with httpx.Client(timeout=30) as client:
        for _ in range(20):  # warm up
            client.get(url + "/api/predict", params={"prefix": "em"})
        idle = []
        for _ in range(500):
            t0 = time.perf_counter()
            client.get(url + "/api/predict", params={"prefix": "em"}).raise_for_status()
            idle.append((time.perf_counter() - t0) * 1000)

        busy = []
        client.post(url + "/api/train", json={"steps": steps}).raise_for_status()
        started = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            r = client.get(url + "/api/predict", params={"prefix": "em"})
            busy.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            if len(busy) % 25 == 0 and client.get(url + "/api/state").json()["status"] == "idle":
                break
            time.sleep(0.002)  # a steady stream of requests, not a busy loop
        rate = steps / (time.perf_counter() - started)
        wait_idle(client, url)
    return idle, busy, rate


async def sse_client(host: str, port: int, ready: asyncio.Event, out: dict, n_ready: list):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    buf = b""
    steps: list[int] = []
    lags: list[float] = []
    announced = False
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            now = time.time()
            buf += chunk
            *messages, buf = buf.split(b"\r\n\r\n")
            for msg in messages:
                if b"event: step" in msg:
                    step, t = STEP_RE.search(msg), T_RE.search(msg)
                    steps.append(int(step.group(1)))
                    lags.append((now - float(t.group(1))) * 1000)
                elif b"event: status" in msg and not announced:
                    announced = True
                    n_ready[0] += 1
                    if n_ready[0] == out["clients"]:
                        ready.set()
                elif b"event: done" in msg:
                    out["results"].append((steps, lags))
                    return
    finally:
        writer.close()


async def fan_out(url: str, clients: int, steps: int, server_pid: int) -> dict:
    host, port = url.removeprefix("http://").split(":")
    ready, n_ready = asyncio.Event(), [0]
    out: dict = {"clients": clients, "results": []}
    tasks = [
        asyncio.create_task(sse_client(host, int(port), ready, out, n_ready))
        for _ in range(clients)
    ]
    await asyncio.wait_for(ready.wait(), 60)
    async with httpx.AsyncClient(timeout=30) as client:
        start = (await client.get(url + "/api/state")).json()["step"]
        (await client.post(url + "/api/train", json={"steps": steps})).raise_for_status()
        worker_pid = (await client.get(url + "/api/state")).json()["worker_pid"]
        peak_web = peak_worker = 0.0
        started = time.perf_counter()
        while not all(t.done() for t in tasks):
            peak_web = max(peak_web, rss_mb(server_pid))
            peak_worker = max(peak_worker, rss_mb(worker_pid))
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
    await asyncio.gather(*tasks)
    expected = list(range(start + 1, start + steps + 1))
    complete = sum(1 for s, _ in out["results"] if s == expected)
    lags = [lag for _, ls in out["results"] for lag in ls]
    return {
        "complete": complete,
        "lags": lags,
        "rate": steps / elapsed,
        "peak_web": peak_web,
        "peak_worker": peak_worker,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        proc, url = start_server(data_dir)
        try:
            rss_start = rss_mb(proc.pid)
            idle, busy, rate = predict_latency(url, args.steps)
            fan = asyncio.run(fan_out(url, args.clients, args.steps, proc.pid))
            rss_end = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(20)

    rows = [
        ("predict p50 idle", f"{statistics.median(idle):.2f} ms", f"n={len(idle)}"),
        ("predict p99 idle", f"{pct(idle, 99):.2f} ms", ""),
        ("predict p50 training", f"{statistics.median(busy):.2f} ms", f"n={len(busy)}"),
        (
            "predict p99 training",
            f"{pct(busy, 99):.2f} ms",
            "PASS (<= 50 ms)" if pct(busy, 99) <= 50 else "FAIL (> 50 ms)",
        ),
        ("steps/s (predict load)", f"{rate:.1f}", f"{args.steps}-step run"),
        (
            "SSE clients complete",
            f"{fan['complete']}/{args.clients}",
            f"every step 1..{args.steps} once, in order",
        ),
        ("SSE lag p50", f"{statistics.median(fan['lags']):.1f} ms", "step end -> client"),
        ("SSE lag p99", f"{pct(fan['lags'], 99):.1f} ms", f"n={len(fan['lags'])}"),
        ("SSE lag max", f"{max(fan['lags']):.1f} ms", ""),
        ("steps/s (fan-out)", f"{fan['rate']:.1f}", f"{args.clients} clients"),
        ("web RSS", f"{rss_start:.0f} -> {fan['peak_web']:.0f} MB", "start -> peak"),
        ("web RSS after", f"{rss_end:.0f} MB", ""),
        ("trainer RSS peak", f"{fan['peak_worker']:.0f} MB", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\nmicrogpt-live service benchmark ({os.cpu_count()} cores)\n")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>18}  {note}")
    print(json.dumps({"predict_p99_training_ms": round(pct(busy, 99), 2)}))


if __name__ == "__main__":
    main()
