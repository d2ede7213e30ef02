"""Start and talk to the training process (embedded mode).

``JobRunner`` is the seam: ``ProcessRunner`` runs the trainer in a local ``spawn``ed process;
``app.jobs.runner.RedisRunner`` implements the same Protocol for a Redis worker's slices.
Commands are described in ``app.jobs.loop``; messages are ``app.contract.worker``'s union,
pickled over the pipe.
"""

import asyncio
import logging
import multiprocessing
import signal
import threading
from collections.abc import AsyncIterator
from multiprocessing import forkserver
from multiprocessing.connection import wait
from typing import Any, Protocol

from app.contract.worker import Error, Ready, WorkerMessage
from app.jobs import loop as training
from app.jobs.pipes import widen

FORKSERVER_PRELOAD = "app.jobs.warm"

log = logging.getLogger(__name__)


class WorkerGone(RuntimeError):
    """The training process exited before answering."""


class JobRunner(Protocol):
    @property
    def pid(self) -> int | None: ...
    @property
    def alive(self) -> bool: ...
    def describe_exit(self) -> str: ...
    async def start(
        self, checkpoint: str, options: dict[str, Any], timeout: float = 60.0
    ) -> None: ...
    async def send(self, kind: str, **payload: Any) -> None: ...
    def messages(self) -> AsyncIterator[WorkerMessage]: ...
    async def close(self, timeout: float = 5.0) -> None: ...


# A forkserver child's exit status comes down a pipe, read by whichever thread polls it first
# (the event loop asking if it is alive, the thread joining it, another process's start, which
# polls every child): a second reader at the same moment found the pipe empty, and the status
# became 255 ("exit status 255" for a SIGKILL, seen once). Every poll and start holds this.
_POLL = threading.Lock()


def _poll(proc) -> int | None:
    """``proc.exitcode``, safely from any thread."""
    with _POLL:
        return proc.exitcode


def start_guarded(start, *args):
    """``start(*args)``, a process's start (a trainer's ``proc.start``, an executor's submit
    that starts the graph process): a start polls every child, so it holds the lock."""
    with _POLL:
        return start(*args)


def _join(proc, timeout: float) -> None:
    """``proc.join(timeout)``: wait for its end outside the lock, then read it inside."""
    wait([proc.sentinel], timeout)
    with _POLL:
        proc.join(0)


def trainer_context() -> multiprocessing.context.BaseContext:
    """Training processes fork from a server process that has already imported the training
    loop and compiled the default shape's step (``forkserver`` preloading app.jobs.warm): a
    new one is ready in milliseconds instead of the ~0.7 s of CPU a fresh interpreter takes to
    import the engine and pydantic, and its first step does not wait ~0.25 s for a compile.
    The server process is single-threaded (forking the web process itself, with its threads,
    would not be safe); ``warm_up`` starts it."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([FORKSERVER_PRELOAD])  # by name: not imported here
    return ctx


def warm_up() -> None:
    """Start the forkserver now: it imports and compiles in a process of its own while the
    web process serves, so the first Train after a start is as quick as the next."""
    if trainer_context().get_start_method() == "forkserver":
        forkserver.ensure_running()


class ProcessRunner:
    """The trainer in a child process; its messages are read by one thread into asyncio."""

    def __init__(self, run: int | None = None) -> None:
        self._ctx = trainer_context()
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._queue: asyncio.Queue[WorkerMessage | None] = asyncio.Queue()
        self._commands = None
        self._send_lock = threading.Lock()  # one writer at a time on the command pipe

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        if self._proc is None or self._proc.pid is None:  # not started yet
            return False
        return _poll(self._proc) is None

    def describe_exit(self) -> str:
        code = _poll(self._proc) if self._proc is not None else None
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    async def start(self, checkpoint: str, options: dict[str, Any], timeout: float = 60.0) -> None:
        """Spawn the process and wait (at most ``timeout`` s) for it to load ``checkpoint`` and
        say it is ready; else stop it and raise WorkerGone."""
        loop = asyncio.get_running_loop()
        cmd_recv, cmd_send = self._ctx.Pipe(duplex=False)
        out_recv, out_send = self._ctx.Pipe(duplex=False)
        widen(out_recv)
        self._proc = self._ctx.Process(
            target=training.main,
            args=(cmd_recv, out_send, options),  # small: start() must not block
            name="microgpt-trainer",
            daemon=True,
        )
        await asyncio.to_thread(start_guarded, self._proc.start)
        cmd_recv.close()
        out_send.close()  # so the reader sees EOF the moment the child dies
        self._commands = cmd_send
        threading.Thread(
            target=self._read, args=(out_recv, loop), name="trainer-reader", daemon=True
        ).start()
        try:
            async with asyncio.timeout(timeout):
                try:
                    await self.send("load", checkpoint=checkpoint)
                except WorkerGone:
                    pass  # it died before reading it: the reader sees EOF
                first = await self._queue.get()
        except TimeoutError:  # stuck (or lost its pipes before reading them): no reply, no EOF
            await self._kill()
            raise WorkerGone(f"the training process was not ready within {timeout:g} s") from None
        if not isinstance(first, Ready):
            detail = first.message if isinstance(first, Error) else self.describe_exit()
            await self.close(1.0)
            raise WorkerGone(f"the training process did not start: {detail}")

    def _read(self, conn, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while True:
                msg = conn.recv()
                loop.call_soon_threadsafe(self._queue.put_nowait, msg)
        except (EOFError, OSError):
            pass
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            return
        finally:
            conn.close()
        try:
            loop.call_soon_threadsafe(self._queue.put_nowait, None)
        except RuntimeError:
            pass

    async def send(self, kind: str, **payload: Any) -> None:
        """Write a command from a thread: a write blocks once the pipe's buffer is full (a
        checkpoint is larger than it, and a stuck process reads nothing), and the event loop
        must not. Cancelling the wait leaves the write to finish or fail on its own."""
        conn = self._commands
        if conn is None:
            raise WorkerGone("the training process is not running")
        try:
            await asyncio.to_thread(self._send_blocking, conn, (kind, payload))
        except OSError as e:
            raise WorkerGone(f"the training process is gone ({self.describe_exit()})") from e

    def _send_blocking(self, conn, msg: tuple[str, dict[str, Any]]) -> None:
        with self._send_lock:
            conn.send(msg)

    async def messages(self) -> AsyncIterator[WorkerMessage]:
        """Every message after ``ready``; ends when the process exits."""
        while (msg := await self._queue.get()) is not None:
            yield msg
        if self._proc is not None:
            await asyncio.to_thread(_join, self._proc, 5)

    async def _kill(self) -> None:
        """Kill the process without asking (a pending write to it may be stuck)."""
        self._proc.kill()
        await asyncio.to_thread(_join, self._proc, 2)
        self._commands = None  # the thread stuck writing to it fails now; do not reuse it

    async def close(self, timeout: float = 5.0) -> None:
        """Ask the process to exit; terminate, then kill it if it does not."""
        proc = self._proc
        if proc is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:  # bounded: a process that reads nothing never takes it
            await asyncio.wait_for(self.send("shutdown"), timeout)
        except (WorkerGone, TimeoutError):
            pass
        await asyncio.to_thread(_join, proc, max(0.0, deadline - loop.time()))
        if _poll(proc) is None:
            log.warning("training process %s did not exit; terminating it", proc.pid)
            proc.terminate()
            await asyncio.to_thread(_join, proc, min(timeout, 2.0))
        if _poll(proc) is None:
            proc.kill()
            await asyncio.to_thread(_join, proc, 2)
        if self._commands is not None:
            self._commands.close()
            self._commands = None
