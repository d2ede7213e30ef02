"""A step's instruments: each probe's next-character distribution after the step, each
matrix's health, and (every ``val_every`` steps) the held-out loss, measured at the weights the
step left.

They cost ~1.3 ms of a ~6 ms step. ``Helper`` measures them in a process forked from the
training process, while the training process trains the next step: on a machine with a core
to spare they leave the training's path (the step's messages go out one step later, ~5 ms).
``Beside`` measures them in the training process itself. Both run ``measure``, the same code on
the same floats: the numbers are the same, to the bit. The training process builds the step's
event from them (``app.jobs.loop``).
"""

import logging
import mmap
import os
import resource
import traceback
from array import array
from collections import deque
from collections.abc import Iterable
from math import dist, hypot
from multiprocessing import Pipe
from typing import NamedTuple

from app.jobs.pipes import widen
from engine import EngineError, Trainer
from engine.gradcheck import unflatten
from engine.infer import Predictor
from engine.model import param_shapes
from engine.train import held_out_loss

log = logging.getLogger(__name__)


class Measured(NamedTuple):
    dists: list[list[float]]  # per probe, p(next character), in id order
    health: list[tuple[str, float, float]]  # per matrix: name, ||grad||, ||update|| / ||weights||
    held_out: float | None  # the held-out loss, when asked for (and anything is held out)


def matrix_health(config, before, grads, after) -> list[tuple[str, float, float]]:
    """Per matrix: the L2 norm of its gradient and ||update|| / ||weights before|| (0 if 0).
    ``math.hypot`` takes each norm in one call, ~10x faster than a Python sum of squares (and
    more exact: they agree to ~1e-16 relative; these are shown, never stored or replayed);
    ``math.dist`` the update's, with no list of differences (the same floats as ``hypot``)."""
    health, i = [], 0
    for name, rows, cols, _ in param_shapes(config):
        j = i + rows * cols
        size = hypot(*before[i:j])
        moved = dist(after[i:j], before[i:j])
        health.append((name, hypot(*grads[i:j]), moved / size if size > 0 else 0.0))
        i = j
    return health


def usable_probes(probes: Iterable[str], predictor: Predictor) -> list[str]:
    """The probe prefixes this model can answer (an uploaded model may lack a character)."""
    usable = []
    for prefix in probes:
        try:
            predictor.encode_prefix(prefix)
        except EngineError:
            continue
        usable.append(prefix)
    return usable


def measure(setup: tuple, before, grads, values, held_out: bool) -> Measured:
    """The instruments of a step that went from ``before`` (with ``grads``) to ``values``
    (``before`` None: of no step, the held-out loss alone); ``setup``: the model's (config,
    tokenizer, probes, held-out documents)."""
    config, tokenizer, probes, docs = setup
    predictor = Predictor(config, tokenizer, unflatten(config, values))
    loss = held_out_loss(predictor, tokenizer, docs) if held_out else None
    if before is None:
        return Measured([], [], loss)
    return Measured(
        predictor.distributions(probes), matrix_health(config, before, grads, values), loss
    )


def setup_of(trainer: Trainer, probes: list[str]) -> tuple:
    return trainer.config, trainer.tokenizer, list(probes), list(trainer.validation_docs)


class Beside:
    """The instruments measured in the training process, when asked."""

    overlaps = False  # measured while the caller trains on

    def __init__(self) -> None:
        self.setup: tuple | None = None
        self.measured: deque[Measured] = deque()

    def use(self, trainer: Trainer, probes: list[str]) -> None:
        self.setup = setup_of(trainer, probes)

    def submit(self, before, grads, values, held_out: bool) -> None:
        self.measured.append(measure(self.setup, before, grads, values, held_out))

    def ready(self) -> bool:
        """Whether the oldest step submitted is measured (``result`` would not wait)."""
        return True

    def result(self) -> Measured:
        """The oldest submitted step's instruments (steps come back in order)."""
        return self.measured.popleft()

    def close(self) -> None:
        pass


class Helper(Beside):
    """The instruments measured by a forked process while the caller goes on. If that process
    is gone (killed, out of memory), they are measured here from then on: nothing is lost."""

    def __init__(self, size: int) -> None:
        """``size``: the model's number of parameters (a step's arrays go through shared
        memory when they have that many floats, else through the pipe)."""
        super().__init__()
        self.jobs: deque[tuple] = deque()  # steps submitted and not yet answered
        # a step's three arrays (96 KB for the default shape) are copied into a slot of this
        # ring, shared with the helper, not written through the pipe (~10x cheaper)
        self.ring = Ring(size)
        # one-way pipes, widened: nothing waits for the reader
        jobs_in, jobs_out = Pipe(duplex=False)
        answers_in, answers_out = Pipe(duplex=False)
        for conn in (jobs_out, answers_out):
            widen(conn)
        pid = os.fork()
        if pid == 0:  # the helper: nothing of the training process's but its own pipes
            code = 1
            try:
                # the web's pipes too: its reader sees the training process's end
                lo, hi = sorted((jobs_in.fileno(), answers_out.fileno()))
                os.closerange(3, lo)
                os.closerange(lo + 1, hi)
                os.closerange(hi + 1, fd_limit())
                yield_to_training()
                serve(jobs_in, answers_out, self.ring)
                code = 0
            except (BrokenPipeError, ConnectionResetError):  # the training process is gone
                code = 0
            except BaseException:
                traceback.print_exc()  # on the training process's stderr: the server's log
            finally:
                os._exit(code)
        jobs_in.close()
        answers_out.close()
        self.pid, self.conn, self.answers = pid, jobs_out, answers_in

    @property
    def overlaps(self) -> bool:
        return self.conn is not None

    def _lost(self, e: BaseException) -> None:
        log.warning("the instruments' helper process is gone (%r): measured here", e)
        self.close()
        for job in self.jobs:  # what it had not answered
            super().submit(*job)
        self.jobs.clear()

    def use(self, trainer: Trainer, probes: list[str]) -> None:
        super().use(trainer, probes)
        if self.conn is not None:
            try:
                self.conn.send(("setup", self.setup))
            except OSError as e:
                self._lost(e)

    def submit(self, before, grads, values, held_out: bool) -> None:
        if self.conn is None:
            super().submit(before, grads, values, held_out)
            return
        self.jobs.append((before, grads, values, held_out))
        # through the ring only while its slots outnumber the steps not yet answered
        job = self.ring.put if len(self.jobs) <= Ring.SLOTS else Ring.inline
        try:
            self.conn.send(job(before, grads, values, held_out))
        except OSError as e:
            self._lost(e)

    def ready(self) -> bool:
        if self.measured or self.conn is None:
            return True
        try:
            return self.answers.poll()
        except OSError:
            return True  # result() finds out

    def result(self) -> Measured:
        if not self.measured and self.conn is not None:
            try:
                answer = self.answers.recv()
                self.jobs.popleft()
                return answer
            except (EOFError, OSError) as e:
                self._lost(e)
        return super().result()

    def close(self) -> None:
        """Let the helper go (it ends when its pipe does) and reap it."""
        if self.conn is None:
            return
        self.conn.close()
        self.answers.close()
        self.conn = None
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def instruments_for(helper: bool, size: int) -> Beside:
    """A helper process if asked for and the system can fork one, else inline."""
    if helper and hasattr(os, "fork"):
        try:
            return Helper(size)
        except OSError as e:  # no process or memory to spare: measured inline
            log.warning("no helper process for the instruments (%s): measured inline", e)
    return Beside()


def fd_limit() -> int:
    """Where the descriptors a forked helper closes end (the soft limit, if finite)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < 1 << 20 else 1 << 20


def yield_to_training() -> None:
    """Woken by the training process's every step, the helper would often run on its core
    and push it off: as a batch process it never preempts on waking, and the scheduler moves
    it to an idle core instead (on a busy machine it still gets its share)."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or not allowed: only slower
        pass


class Ring:
    """Slots of shared memory (mapped before the fork: the helper sees what is written), each
    for one step's before, grads and values. A slot is written again only SLOTS steps later,
    when its step has long been answered (at most MOST_BEHIND + 1 steps wait: app.jobs.outbox)."""

    SLOTS = 12

    def __init__(self, size: int) -> None:
        self.size, self.next = size, 0
        self.memory = mmap.mmap(-1, self.SLOTS * 3 * 8 * size)

    @staticmethod
    def inline(before, grads, values, held_out: bool) -> tuple:
        """The job to send with its arrays in it."""
        return "step", (before, grads, values, held_out)

    def put(self, before, grads, values, held_out: bool) -> tuple:
        """The job to send: its arrays in the next slot, or in the job if they do not fit."""
        arrays = (before, grads, values)
        if any(a is not None and len(a) != self.size for a in arrays):
            return self.inline(*arrays, held_out)
        slot, self.next = self.next, (self.next + 1) % self.SLOTS
        for k, a in enumerate(arrays):
            if a is not None:
                start = (slot * 3 + k) * 8 * self.size
                self.memory[start : start + 8 * self.size] = memoryview(a).cast("B")
        return "slot", (slot, [a is not None for a in arrays], held_out)

    def get(self, slot: int, present: list[bool]) -> list:
        arrays = []
        for k, here in enumerate(present):
            start = (slot * 3 + k) * 8 * self.size
            arrays.append(array("d", self.memory[start : start + 8 * self.size]) if here else None)
        return arrays


def serve(jobs, answers, ring: Ring) -> None:
    """The helper's loop: the model's setup, then a step's arrays in, its Measured out."""
    setup = None
    while True:
        try:
            kind, payload = jobs.recv()
        except EOFError:  # the training process is gone, or done
            return
        if kind == "setup":
            setup = payload
        elif kind == "slot":
            slot, present, held_out = payload
            answers.send(measure(setup, *ring.get(slot, present), held_out))
        else:
            answers.send(measure(setup, *payload))
