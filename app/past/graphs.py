"""Graphs of steps (GET /api/graph), built in a process of their own.

A step's graph is ~0.2 s of pure Python (the step replayed on its own tape, then ~60,000 JSON
objects and gzip). In the web process it would hold the GIL that the event loop and the reader
of the trainer's messages need, and slow a run in progress; so a single process, started on the
first request (a page that never opens the graph costs nothing), builds it and answers with the
gzipped body. It imports the engine only, and gets just what the step needs: the weights before
it and its document.
"""

import asyncio
import gzip
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import orjson

from app.jobs.local import start_guarded
from engine.data import Tokenizer
from engine.graph import StepGraph, step_graph
from engine.model import GPTConfig

log = logging.getLogger(__name__)


def graph_json(g: StepGraph) -> bytes:
    """The /api/graph body (GraphOut): ~60,000 objects, so orjson (3x json's speed here; the
    same numbers: floats as their shortest round-trip text, as repr)."""
    nodes = [
        {"id": i, "op": op, "data": d, "grad": gr, "param": p, "group": gp}
        for i, (op, d, gr, p, gp) in enumerate(
            zip(g.ops, g.data, g.grads, g.params, g.groups, strict=True)
        )
    ]
    edges = [{"child": c, "parent": p, "local": lo} for c, p, lo in g.edges]
    body = {"step": g.step, "doc": g.doc, "loss": g.loss, "nodes": nodes, "edges": edges}
    return orjson.dumps(body)


def build(config: dict, chars: list[str], doc: str, before: Sequence[float], step: int) -> bytes:
    """In the graph process: step ``step`` (which read ``doc``) from ``before``, as gzipped JSON."""
    # one document is all the replay reads: step k reads docs[(k - 1) % len(docs)]
    graph = step_graph(GPTConfig(**config), Tokenizer(chars), (doc,), before, step)
    return gzip.compress(graph_json(graph), 1)


class GraphBuilder:
    """``await build(...)``: the gzipped /api/graph body, from the graph process."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def build(
        self, config: GPTConfig, chars: list[str], doc: str, before: Sequence[float], step: int
    ) -> bytes:
        args = (config.to_dict(), chars, doc, before, step)
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"))
            try:
                # the submit starts the graph process, if not yet (a start polls every child)
                future = start_guarded(self._pool.submit, build, *args)
                return await asyncio.wrap_future(future, loop=loop)
            except BrokenProcessPool:  # it died (killed, out of memory): a new one, once
                log.warning("the graph process died; starting another (attempt %d)", attempt)
                await self.close()
        raise RuntimeError("the graph process died twice building one graph")

    async def close(self) -> None:
        """Stop the graph process (after the graph it is building, ~0.2 s at most)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
