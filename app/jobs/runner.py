"""The web process's side of Redis mode: a ``JobRunner`` (``app.jobs.local``) per training session,
and one reader for all their streams.

``RedisRunner`` looks to the run (``app.runs``) exactly like the embedded ``ProcessRunner``:
commands in, the trainer's messages out, in order. Underneath, a command is pushed on the
session's list and, if the session is parked, its next slice is queued (``app.jobs.sessions``);
messages come from the run's stream. After a redelivered slice (its worker died) the messages up
to the last one already passed on come again: they are dropped here, so the run sees every step
once.

Commands are numbered by their place on the session's list; a worker's reply names its
command, so a command a redelivered slice applies again is answered once.

One task (``RedisJobs._read``) reads every attached session's run stream with a single
blocking XREAD, whatever the number of runs training, and checks every few seconds that the
sessions still exist: a Redis restarted without persistence has lost them, and their runs fail
back to their last stored checkpoint (nothing the web process stored is lost) instead of
waiting for a worker that will never come.
"""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.contract.worker import Error, Ready, Reply, WorkerMessage
from app.jobs import sessions as keys
from app.jobs import wire
from app.jobs.local import WorkerGone
from app.jobs.slices import declare, make_broker
from app.settings import Settings

log = logging.getLogger(__name__)

# A step's messages come in this order (app.jobs.loop); with the step they make the key
# that says whether a replayed message was passed on already.
ORDER = {"params": 0, "step": 1, "val": 2, "weights": 3, "checkpoint": 4, "done": 5}
ANSWERED_HERE = {"train", "resume", "pace"}  # replied at once: the slice may wait in the queue
ANSWER = Reply(ok=True, step=None)  # a command the runner answers itself
HALTS = {"pause", "stop"}  # answered without a worker if the session's slice is still queued
CHECK_EVERY = 2.0  # seconds between checks that the attached sessions still exist
READ_BLOCK = 500  # ms an XREAD waits for new entries (then it re-reads which runs to follow)


def stream_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id (``ms-seq``) as a pair that orders as the stream does."""
    ms, _, seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).partition("-")
    return int(ms), int(seq or 0)


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//…@{tail}" if sep else url


async def close_session(client: aioredis.Redis, sid: str) -> None:
    """A worker holding the session stops at its next step, a queued slice finds it closed;
    its keys expire after an hour."""
    session, commands = keys.session_key(sid), keys.commands_key(sid)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(session, "state", "closed")
        pipe.rpush(commands, json.dumps(["shutdown", {}]))
        pipe.expire(session, keys.CLOSED_TTL)
        pipe.expire(commands, keys.CLOSED_TTL)
        await pipe.execute()


class RedisJobs:
    """One per web process: the Redis client, Dramatiq's broker (to queue slices) and the
    reader of the streams of every run training."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.url = settings.redis_url
        # a bounded wait on every command (XREAD blocks READ_BLOCK ms, far less): a half-open
        # connection fails and is replaced instead of stalling every run
        self.client = aioredis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
        self.broker = make_broker(
            self.url, settings.redis_heartbeat, settings.redis_maintenance_chance
        )
        self.actor = declare(self.broker, settings.redis_lease)
        self.attached: dict[int, RedisRunner] = {}  # run -> its open session's runner
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.down_since: float | None = None  # Redis has not answered since then

    def runner(self, run: int) -> "RedisRunner":
        return RedisRunner(self, run)

    async def start(self) -> None:
        """Check Redis answers (a clear error at startup, not at the first Train), then read."""
        try:
            await asyncio.wait_for(self.client.ping(), 10)
        except (RedisError, OSError, TimeoutError) as e:
            raise RuntimeError(f"Redis at {redacted(self.url)} does not answer: {e}") from None
        await self._close_orphans()
        self._task = asyncio.create_task(self._read(), name="redis-streams")
        self._task.add_done_callback(self._reader_ended)

    def _reader_ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        error = task.exception()
        log.error("the Redis stream reader stopped: %r", error)
        for runner in list(self.attached.values()):
            runner.end(f"the web process stopped reading its training messages ({error!r})")

    async def _close_orphans(self) -> None:
        """Sessions left open by a web process that was killed: workers would go on training
        them for nobody (their runs resume from this process's checkpoints instead). One web
        process per Redis database: every open session is an orphan at its start."""
        closed = 0
        async for key in self.client.scan_iter(match=f"{keys.PREFIX}:session:*", count=500):
            if key.count(b":") != 2:
                continue  # a session's command list or lease
            sid = key.decode().rsplit(":", 1)[1]
            if await self.client.hget(key, "state") not in (None, b"closed"):
                await close_session(self.client, sid)
                closed += 1
        if closed:
            log.warning("closed %d training sessions left open by an earlier web process", closed)
        # and what the runs' streams still hold is nobody's now
        async for key in self.client.scan_iter(match=f"{keys.PREFIX}:run:*:out", count=500):
            await self.client.delete(key)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.aclose()
        self.broker.close()

    async def enqueue(self, sid: str, n: int) -> None:
        await asyncio.to_thread(self.actor.send, sid, n)  # the broker's client is blocking

    def attach(self, runner: "RedisRunner") -> None:
        old = self.attached.get(runner.run)
        if old is not None and old is not runner:
            old.end("replaced by a new session")
        self.attached[runner.run] = runner
        self._changed.set()

    def detach(self, runner: "RedisRunner") -> None:
        if self.attached.get(runner.run) is runner:
            del self.attached[runner.run]

    async def _read(self) -> None:
        checked = time.monotonic()
        while True:
            if not self.attached:
                self._changed.clear()
                await self._changed.wait()
                continue
            runners = dict(self.attached)
            streams = {keys.stream_key(run): r.last_id for run, r in runners.items()}
            try:
                got = await self.client.xread(streams, block=READ_BLOCK, count=500)
                if time.monotonic() - checked > CHECK_EVERY:
                    checked = time.monotonic()
                    await self._check_sessions(runners)
            except (RedisError, OSError) as e:
                if self.down_since is None:
                    self.down_since = time.monotonic()
                    log.warning("Redis at %s: %s; reconnecting", redacted(self.url), e)
                await asyncio.sleep(0.5)
                continue
            if self.down_since is not None:
                log.info("Redis is back after %.1f s", time.monotonic() - self.down_since)
                self.down_since = None
                await self._check_sessions(runners)
            for stream, entries in got:
                run = int(stream.decode().split(":")[2])
                runner = runners.get(run)
                for entry_id, fields in entries:
                    if runner is not None and runner.alive:
                        runner.last_id = entry_id
                        try:
                            runner.accept(fields)
                        except Exception as e:  # a malformed entry: this run, not all
                            log.exception("run %s: a message from its worker", run)
                            runner.end(f"a training message could not be read ({e!r})")
            if got:  # what is read is done with: a stream holds what is not read yet
                try:
                    async with self.client.pipeline(transaction=False) as pipe:
                        for stream, entries in got:
                            pipe.xtrim(stream, minid=entries[-1][0], approximate=True)
                        await pipe.execute()
                except (RedisError, OSError):
                    pass  # trimmed with the next batch

    async def _check_sessions(self, runners: dict[int, "RedisRunner"]) -> None:
        """Every attached session: still there (else Redis lost it: the run fails back to its
        stored checkpoint), kept from expiring, and, if its slice's worker has let its lease
        expire (killed, or its slice failed), its slice queued again: taken over at once,
        rather than after Dramatiq's heartbeat timeout."""
        async with self.client.pipeline(transaction=False) as pipe:
            for runner in runners.values():
                pipe.hmget(keys.session_key(runner.sid), "state", "slice")
                pipe.exists(keys.lease_key(runner.sid))
                pipe.expire(keys.session_key(runner.sid), keys.OPEN_TTL)
                pipe.expire(keys.commands_key(runner.sid), keys.OPEN_TTL)
            got = await pipe.execute()
        for i, runner in enumerate(runners.values()):
            (state, slice_number), leased = got[4 * i], got[4 * i + 1]
            if state is None:
                if runner.alive:
                    runner.end("Redis lost the training job (was it restarted?)")
                continue
            stranded = state == b"running" and not leased
            if stranded and runner.stranded:  # two checks apart: not a claim under way
                log.warning(
                    "run %s: its worker let go of slice %s; queued again",
                    runner.run,
                    slice_number.decode(),
                )
                await self.enqueue(runner.sid, int(slice_number))
                stranded = False
            runner.stranded = stranded


class RedisRunner:
    """A training session on the Redis workers, behind the JobRunner protocol."""

    def __init__(self, jobs: RedisJobs, run: int):
        self.jobs, self.run = jobs, run
        self.sid = uuid.uuid4().hex
        self.last_id: bytes | str = "0-0"  # the run stream's last entry read
        self.host: str | None = None
        self._pid: int | None = None
        self._queue: asyncio.Queue[WorkerMessage | None] = asyncio.Queue()
        self._exit: str | None = None
        self._closed = False
        self._seen: tuple[int, int] = (-1, -1)  # (step, ORDER) of the last message passed on
        self._replay_until: tuple[int, int] | None = None
        self._next = 0  # the number of the session's next message (app.jobs.slices.Stream)
        self._replied = 0  # commands before this index have had their reply passed on
        self._answered: set[int] = set()  # commands answered here (their worker reply is not)
        self._halt_at: tuple[int, int] | None = None  # a pause answered once this is read
        self.stranded = False  # the last check saw the session running with no lease

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def alive(self) -> bool:
        return self._exit is None and not self._closed

    def describe_exit(self) -> str:
        return self._exit or ("closed" if self._closed else "still running")

    async def start(self, checkpoint: str, options: dict[str, Any], timeout: float = 60.0) -> None:
        """Open the session (parked at ``checkpoint``); its first slice is queued by the
        first command. Does not wait for a worker: the queue is Dramatiq's."""
        loop = {"running": False, "pace": options.get("pace"), "elapsed": 0.0}
        loop["poison_at"] = options.get("fault_nonfinite_at")
        session = {
            "state": "parked",
            "slice": 0,
            "run": self.run,
            "opts": json.dumps(options),
            "ckpt": checkpoint,
            "loop": json.dumps(loop),
        }
        client = self.jobs.client
        try:
            async with asyncio.timeout(timeout):
                last = await client.xrevrange(keys.stream_key(self.run), count=1)
                self.last_id = last[0][0] if last else "0-0"
                await client.hset(keys.session_key(self.sid), mapping=session)
                await client.expire(keys.session_key(self.sid), keys.OPEN_TTL)
        except (RedisError, OSError, TimeoutError) as e:
            raise WorkerGone(f"Redis at {redacted(self.jobs.url)} did not answer: {e}") from None
        self.jobs.attach(self)

    async def send(self, kind: str, **payload: Any) -> None:
        """Put a command on the session's list (queueing its next slice if it was parked).
        Train and resume are answered here at once (the run is in the queue: a worker may
        be a while); a pause or stop of a run whose slice is still queued is too, once every
        message before it is read (no worker needed)."""
        if not self.alive:
            raise WorkerGone(f"the training session is {self.describe_exit()}")
        session, commands = keys.session_key(self.sid), keys.commands_key(self.sid)
        stream = keys.stream_key(self.run)
        here = "1" if kind in HALTS else "0"
        try:
            queue_slice, index = await self.jobs.client.eval(
                keys.COMMAND, 3, session, commands, stream, json.dumps([kind, payload]), here
            )
            if queue_slice == -1:  # parked before its queued slice began
                self._halt_at = stream_id(index)
                self._answer_halt()
                return
            if kind in ANSWERED_HERE:
                self._answered.add(index)
                self._queue.put_nowait(ANSWER)
            if queue_slice:
                await self.jobs.enqueue(self.sid, queue_slice)
        except (RedisError, OSError) as e:
            raise WorkerGone(f"Redis at {redacted(self.jobs.url)} is unreachable: {e}") from None

    def _answer_halt(self) -> None:
        if self._halt_at is not None and stream_id(self.last_id) >= self._halt_at:
            self._halt_at = None
            self._queue.put_nowait(ANSWER)

    def accept(self, fields: dict[bytes, bytes]) -> None:
        """One entry of the run's stream (the reader calls this, in stream order, after
        setting ``last_id`` to its id)."""
        self._accept(fields)
        self._answer_halt()

    def _accept(self, fields: dict[bytes, bytes]) -> None:
        sid, message = wire.decode(fields)
        if sid != self.sid or not self.alive:
            return
        number = int(fields[b"q"])
        if number != self._next:  # MAXLEN trimmed entries this reader had not read
            self.end(
                f"the web process fell behind its training messages ({number - self._next} lost)"
            )
            return
        self._next = number + 1
        if isinstance(message, Ready):  # a slice began on a worker
            self._pid, self.host = message.pid, message.host
            if message.replay:  # redelivered: its first messages may be old news
                log.warning("run %s: slice redelivered to %s on %s", self.run, self._pid, self.host)
                self._replay_until = self._seen
            return
        if isinstance(message, Reply):
            index = message.cmd
            if index < self._replied or index in self._answered:
                return  # answered here already, or again by a redelivered slice
            self._replied = index + 1
        order = ORDER.get(message.kind)
        if order is not None:
            key = (message.step, order)
            if self._replay_until is not None:
                if key <= self._replay_until:
                    return
                self._replay_until = None
            self._seen = key
        self._queue.put_nowait(message)
        if isinstance(message, Error):
            self.end(message.message)

    def end(self, reason: str) -> None:
        """No more messages: the service sees the worker gone (``reason``)."""
        if self._exit is None:
            self._exit = reason
            self.jobs.detach(self)
            self._queue.put_nowait(None)

    async def messages(self) -> AsyncIterator[WorkerMessage]:
        while (msg := await self._queue.get()) is not None:
            yield msg

    async def close(self, timeout: float = 5.0) -> None:
        """Close the session: a worker holding it stops at its next step, a queued slice
        finds it closed. Its keys expire after an hour."""
        if self._closed:
            return
        self._closed = True
        self.jobs.detach(self)
        self._queue.put_nowait(None)
        try:
            async with asyncio.timeout(timeout):
                await close_session(self.jobs.client, self.sid)
        except (RedisError, OSError, TimeoutError) as e:
            log.warning("could not close session %s of run %s: %s", self.sid, self.run, e)
