"""``microgpt-live worker --redis-url URL [--processes N]``: train slices from Redis.

N worker processes (default: the CPU count), each a Dramatiq worker with one thread (the
training loop is pure Python: threads would share one core) that prefetches one slice only (a
slice it cannot start at once belongs to another worker). This process watches them: one that
dies (killed, out of memory) is started again, and its slice goes to another worker once its
heartbeat is MICROGPT_REDIS_HEARTBEAT s old (or, sooner, once the web process sees its lease
expired). SIGTERM or Ctrl-C: each worker hands its slice over at its next step, then all exit.
The workers die with this process, even when it is SIGKILLed (``die_with``): no orphan goes
on training unsupervised, and a new supervisor's workers take the slices over.
"""

import argparse
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("microgpt-live.worker")

PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def die_with(parent: int, stop: Callable[[], None], poll: float = 1.0) -> None:
    """Call ``stop`` (hand the slice over, exit) when the supervisor ``parent`` dies, however
    it dies: Linux sends SIGTERM (the handler calls ``stop``: set it first); elsewhere, and if
    it died before this ran, a thread notices the parent's pid change within ``poll`` s."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass  # no prctl: the thread below is enough

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        log.warning("worker process %s: its supervisor %s is gone; stopping", os.getpid(), parent)
        stop()

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="microgpt-live worker",
        description="Train the slices the web process queues in Redis (Redis mode).",
    )
    parser.add_argument("--redis-url", help="redis://HOST:PORT/DB (or MICROGPT_REDIS_URL)")
    parser.add_argument(
        "--processes", type=int, default=None, help="worker processes (default: CPU count)"
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def serve(settings_fields: dict, parent: int | None = None) -> None:
    """One worker process: Dramatiq's worker with one thread, until SIGTERM/SIGINT or its
    supervisor ``parent``'s death."""
    import dramatiq

    from app.__main__ import setup_logging
    from app.jobs import slices
    from app.settings import Settings

    settings = Settings(**settings_fields)
    setup_logging(settings.log_level)
    broker = slices.make_broker(
        settings.redis_url, settings.redis_heartbeat, settings.redis_maintenance_chance
    )
    actor = slices.declare(broker, settings.redis_lease)
    slices.configure(
        broker.client,  # the slices' own commands share the broker's connections
        actor,
        lease=settings.redis_lease,
        slice_steps=settings.slice_steps,
        slice_seconds=settings.slice_seconds,
        maxlen=settings.redis_maxlen,
    )
    # an idle consumer polls Redis at most this many ms apart: also the gap between a slice's
    # end and the next (the consumer does not fetch while its one prefetched slice runs)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.queue_prefetch = 1
    stop = threading.Event()

    def on_signal(*_):
        slices.Config.stopping = True  # the slice under way hands over at its next step
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    if parent is not None:
        die_with(parent, on_signal)
    worker.start()
    log.info("worker process %s ready", os.getpid())
    stop.wait()
    worker.stop(timeout=30_000)
    broker.close()


def main(argv: list[str] | None = None) -> None:
    from app.__main__ import redis_or_exit, settings_or_exit, setup_logging
    from app.jobs.runner import redacted

    args = parse_args(argv)
    given = {"redis_url": args.redis_url, "log_level": args.log_level}
    prog = "microgpt-live worker"
    settings = settings_or_exit({k: v for k, v in given.items() if v is not None}, prog)
    setup_logging(settings.log_level)
    if not settings.redis_url:
        print(f"{prog}: give --redis-url (or MICROGPT_REDIS_URL)", file=sys.stderr)
        raise SystemExit(2)
    processes = args.processes if args.processes is not None else os.cpu_count() or 1
    if not 1 <= processes <= 256:
        print(f"{prog}: --processes {processes}: give 1 to 256", file=sys.stderr)
        raise SystemExit(2)
    redis_or_exit(settings.redis_url, "start it, or check the URL", prog)
    fields = settings.model_dump(mode="json", exclude={"data_dir"})
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())

    def spawn():
        proc = ctx.Process(
            target=serve, args=(fields, os.getpid()), name="microgpt-worker", daemon=False
        )
        proc.start()
        return proc

    procs = [spawn() for _ in range(processes)]
    log.info(
        "%d worker processes on %s: %s",
        processes,
        redacted(settings.redis_url),
        " ".join(str(p.pid) for p in procs),
    )
    while not stopping.wait(0.5):
        for i, proc in enumerate(procs):
            if not proc.is_alive():
                log.warning(
                    "worker process %s exited (%s); starting another", proc.pid, proc.exitcode
                )
                procs[i] = spawn()
    for proc in procs:
        if proc.is_alive():
            proc.terminate()  # SIGTERM: finish the slice, then exit
    for proc in procs:
        proc.join(40)
        if proc.is_alive():
            proc.kill()
