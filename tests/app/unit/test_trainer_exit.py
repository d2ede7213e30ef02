"""A training process's exit status reads the same from every thread.

A forkserver child's status comes down a pipe that the first poll empties: the event loop
(is the run's worker alive?), the thread joining it and any new process's start poll it, and
a second reader at the same moment used to read an empty pipe, making a SIGKILL "exit status
255" in the run's failure reason (app.jobs.local polls under one lock).
"""

import gzip
import json
import multiprocessing
import signal
import threading
import time
from multiprocessing.connection import wait

from app.jobs import local
from app.past.graphs import GraphBuilder
from engine import Trainer
from tests.conftest import run_async


def read_at_once(proc, threads: int = 8) -> list[int | None]:
    """``proc``'s exit code as read by ``threads`` threads at the same moment."""
    readers = threading.Barrier(threads)
    codes = []

    def read():
        readers.wait()
        codes.append(local._poll(proc))

    started = [threading.Thread(target=read) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return codes


def test_a_killed_processs_status_is_its_signal_in_every_thread_that_reads_it():
    ctx = multiprocessing.get_context("forkserver")
    for _ in range(5):
        proc = ctx.Process(target=time.sleep, args=(60,), daemon=True)
        local.start_guarded(proc.start)
        proc.kill()
        assert wait([proc.sentinel], 10)
        assert read_at_once(proc) == [-signal.SIGKILL] * 8


def test_the_graph_process_starts_holding_the_lock_every_poll_holds(monkeypatch):
    """A process's start polls every child, the trainers' too: the graph process's (an
    executor's worker, app.past.graphs) holds the lock as a trainer's start does."""
    held = []
    cleanup = multiprocessing.process._cleanup  # what Process.start calls to poll every child

    def polling_every_child():
        held.append(local._POLL.locked())
        cleanup()

    monkeypatch.setattr(multiprocessing.process, "_cleanup", polling_every_child)
    trainer = Trainer(seed=42)
    builder = GraphBuilder()

    async def one_graph() -> bytes:
        try:
            return await builder.build(
                trainer.config, trainer.tokenizer.chars, "emma", trainer.flat_values(), 1
            )
        finally:
            await builder.close()

    body = json.loads(gzip.decompress(run_async(one_graph())))

    assert body["step"] == 1 and body["doc"] == "emma" and body["nodes"]
    assert held and all(held), held
