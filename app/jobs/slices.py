"""The Dramatiq actor: a slice of a training session, on whichever worker takes it.

A slice loads the session's newest checkpoint, obeys the commands waiting for it, trains at
most ``slice_steps`` steps (or ``slice_seconds``), saves a checkpoint and queues the next
slice at the back of the queue, so every run of a class moves on and a paused run frees its
worker; with no other slice waiting, it goes on training instead of handing over. The
training itself is ``app.jobs.loop.TrainerProcess``, the embedded worker's loop,
unchanged: only its pipes are replaced by the session's command list and the run's stream.

At-least-once delivery: a worker killed mid-slice leaves its message unacknowledged, and
Dramatiq's Redis broker puts it back once that worker's heartbeat is ``heartbeat_timeout`` old.
The slice then starts again from the session's last checkpoint (at most ``checkpoint_every``
steps back) and says so (``ready`` with ``replay``): the web process drops the messages it has
seen already (``app.jobs.runner``), and the steps trained again are the same numbers, so the
history keeps each step once and the curve is the one an unbroken run draws.
"""

import json
import logging
import os
import socket
import time
import uuid
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from app.contract.worker import Error, Message, Ready, Reply
from app.jobs import sessions as keys
from app.jobs import wire
from app.jobs.loop import TrainerProcess
from engine import EngineError, Trainer

log = logging.getLogger(__name__)
NAMESPACE = f"{keys.PREFIX}:dramatiq"
QUEUE_KEY = f"{NAMESPACE}:{keys.QUEUE}"  # the broker's list of the slices waiting (dispatch.lua)


def make_broker(url: str, heartbeat_timeout: float, maintenance_chance: int) -> RedisBroker:
    """Dramatiq's Redis broker. ``heartbeat_timeout`` (s): how long a silent worker counts as
    alive (its slices are redelivered after it); ``maintenance_chance`` (per million broker
    commands): how often a command also re-queues dead workers' messages."""
    # a bounded wait on every command: a half-open connection fails instead of hanging
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    return RedisBroker(
        client=client,
        namespace=NAMESPACE,
        heartbeat_timeout=int(heartbeat_timeout * 1000),
        maintenance_chance=maintenance_chance,
    )


def redis_trouble(retries: int, exception: BaseException) -> bool:
    """Retry a slice only if Redis failed under it (a restart, a dropped connection), a few
    times: a slice that fails otherwise has told the web process why (an ``error`` message)."""
    return isinstance(exception, redis.RedisError) and retries < 10


def declare(broker: RedisBroker, lease: float) -> dramatiq.Actor:
    """The slice actor on ``broker`` (the web process sends with it, workers run it). A retry
    waits out the failed slice's lease (``lease`` s), so it can take the session over."""
    return dramatiq.actor(
        train_slice,
        broker=broker,
        actor_name="train_slice",
        queue_name=keys.QUEUE,
        retry_when=redis_trouble,
        min_backoff=int(lease * 1000) + 1000,
        max_backoff=60_000,
        time_limit=60 * 60 * 1000,
    )


class Stream:
    """The trainer's ``out`` pipe: messages go to the run's stream, a step's in one round
    trip, written only while this worker holds the session (``sessions.FLUSH``); a checkpoint
    is kept in the session in the same script as its message."""

    def __init__(self, client: redis.Redis, sid: str, run: int, token: str, sent: int, high: int):
        self.client, self.sid, self.token = client, sid, token
        self.keys = (keys.lease_key(sid), keys.session_key(sid), keys.stream_key(run))
        self.pending: list[dict] = []
        self.keep: dict[str, Any] | None = None
        # messages of the session sent so far, by every slice: each entry is numbered, so a
        # reader that fell further behind than MAXLEN sees the gap
        self.sent = sent
        self.lost = False  # another worker has the session: nothing more is written
        self.high = high  # the highest step this session's slices have sent (``step``)

    def send(self, message: Message) -> None:
        fields = wire.encode(message, self.sid)
        fields["q"] = str(self.sent + len(self.pending))
        self.pending.append(fields)

    def flush(self, step: int | None = None) -> None:
        """Write what is pending; ``step``: the trainer's step now (a redelivered slice
        obeys no command before it has trained back to it)."""
        if self.lost or (not self.pending and self.keep is None):
            return
        sent = self.sent + len(self.pending)
        keep = {**(self.keep or {}), "sent": sent}
        if step is not None and step > self.high:
            keep["step"] = self.high = step
        args = [self.token, int(Config.lease * 1000), Config.maxlen, len(keep)]
        for name, value in keep.items():
            args += [name, value]
        for fields in self.pending:
            args.append(len(fields))
            for name, value in fields.items():
                args += [name, value]
        if not self.client.eval(keys.FLUSH, 3, *self.keys, *args):
            log.warning("session %s is another worker's now: this slice stops", self.sid)
            self.lost = True
        self.pending, self.keep, self.sent = [], None, sent


class SliceTrainer(TrainerProcess):
    """The embedded loop, whose every checkpoint is also the session's restart point. Its
    instruments are measured inline: a slice's messages and restart point go out together,
    and a worker's threads make forking a helper unsafe."""

    out: Stream

    def __init__(self, trainer: Trainer, out: Stream, options: dict[str, Any]):
        super().__init__(trainer, out, {**options, "helper": False})

    saved_step = -1  # the step of the newest checkpoint saved in the session
    applied = 0  # commands on the session's list applied so far (the one being applied too)

    def save(self, reason: str, weights: bool = True) -> None:
        """Also the session's restart point: the checkpoint, the loop, the commands seen."""
        super().save(reason, weights)
        self.saved_step = self.trainer.step
        self.out.keep = {
            "ckpt": self.newest.whole,
            "loop": json.dumps(self.loop_state()),
            "applied": self.applied,
        }

    def handle(self, kind: str, payload: dict) -> None:
        super().handle(kind, payload)
        if self.out.keep is not None and "loop" in self.out.keep:
            # a command that saved (train saves, then starts the segment) restarts from its
            # effects: the loop as it is now, not as it was at the save
            self.out.keep["loop"] = json.dumps(self.loop_state())

    def diverged(self, e) -> None:
        super().diverged(e)  # back at the last checkpoint: the steps after it are not replays
        self.out.high = self.trainer.step
        self.out.keep = {**(self.out.keep or {}), "step": self.trainer.step}

    def reply(self, ok: bool, reason: str | None = None) -> None:
        self.send(Reply(ok=ok, step=self.trainer.step, reason=reason, cmd=self.applied - 1))

    def loop_state(self) -> dict[str, Any]:
        running_for = time.time() - self.segment_start if self.running else 0.0
        return {
            "running": self.running,
            "run_id": self.run_id,
            "elapsed": self.elapsed_before + running_for,
            "pace": self.pace,
            "poison_at": self.poison_at,
        }

    def restore_loop(self, loop: dict[str, Any]) -> None:
        self.pace, self.poison_at = loop.get("pace"), loop.get("poison_at")
        if loop.get("running"):
            self.start_segment(loop["run_id"], loop["elapsed"])
        else:
            self.run_id, self.elapsed_before = loop.get("run_id"), loop.get("elapsed", 0.0)


class Config:
    """What a worker process was started with (``configure``)."""

    client: redis.Redis | None = None
    actor: dramatiq.Actor | None = None
    lease: float = 5.0  # seconds
    slice_steps = 50
    slice_seconds = 1.0
    maxlen = 5_000
    hold = 60.0  # seconds a slice may go on with nobody waiting, then it hands over anyway
    stopping = False  # the worker was told to stop: hand over at the next step


def configure(client: redis.Redis, actor: dramatiq.Actor, **options: Any) -> None:
    Config.client, Config.actor = client, actor
    for name, value in options.items():
        setattr(Config, name, value)


def train_slice(sid: str, n: int) -> None:
    """Dramatiq's entry point: run slice ``n`` of session ``sid`` if it is still this one's."""
    client = Config.client
    token = uuid.uuid4().hex
    lease_ms = int(Config.lease * 1000)
    session, lease = keys.session_key(sid), keys.lease_key(sid)
    commands = keys.commands_key(sid)
    holder = f"{os.getpid()}@{socket.gethostname()}"
    claimed = client.eval(keys.CLAIM, 2, session, lease, n, token, lease_ms, holder)
    if not claimed:
        return
    fields = client.hgetall(session)
    high = int(fields.get(b"step", 0))
    out = Stream(client, sid, int(fields[b"run"]), token, int(fields.get(b"sent", 0)), high)
    applied = int(fields.get(b"applied", 0))
    worker = None
    try:
        worker = SliceTrainer(
            Trainer.from_dict(json.loads(fields[b"ckpt"])), out, json.loads(fields[b"opts"])
        )
        worker.restore_loop(json.loads(fields[b"loop"]))
        worker.saved_step, worker.applied = worker.trainer.step, applied
        here = {"pid": os.getpid(), "host": socket.gethostname()}
        worker.send(Ready(**here, step=worker.trainer.step, replay=claimed == 2))
        out.flush(worker.trainer.step)
        # after a redelivery (or a hand-over during one) the steps sent before come again,
        # and no command is obeyed before them (a pause was meant after them)
        outcome = _serve(client, worker, lease, commands, token, lease_ms)
        if out.keep is None:  # where the next slice starts
            out.keep = {"loop": json.dumps(worker.loop_state()), "applied": worker.applied}
    except EngineError as e:
        outcome = _fail(out, str(e))
    except redis.RedisError:
        raise  # retried once Redis is back and this slice's lease has expired (declare)
    except Exception as e:
        log.exception("slice %s of session %s failed", n, sid)
        outcome = _fail(out, f"training failed: {type(e).__name__}: {e}")
    if worker is not None:
        applied = worker.applied
    out.flush(worker.trainer.step if worker is not None else None)
    if out.lost:
        return
    after = client.eval(keys.YIELD, 3, session, lease, commands, token, outcome, applied, lease_ms)
    if after > 0:
        Config.actor.send(sid, after)


def _fail(out: Stream, message: str) -> str:
    out.send(Error(message=message))
    return "idle"


def _serve(client, worker: SliceTrainer, lease, commands, token, lease_ms) -> str:
    """Commands, then steps, until the slice is spent ("more") or nothing is left to do or
    the session is shut down ("idle"). Returns at once if another worker has it."""
    out: Stream = worker.out
    session = keys.session_key(out.sid)
    held = started = time.monotonic()
    steps = 0
    while not out.lost:
        args = (token, lease_ms, worker.applied)
        waiting = client.eval(keys.RENEW, 3, lease, commands, session, *args)
        if waiting is None:
            log.warning("%s: the session went to another worker", session)
            out.lost = True
            break
        if worker.running and worker.trainer.step < out.high:
            waiting = []  # still replaying what an earlier worker had sent
        for raw in waiting:
            kind, payload = json.loads(raw)
            worker.applied += 1
            if kind == "shutdown":
                return "idle"
            worker.handle(kind, payload)
        out.flush(worker.trainer.step)
        if not worker.running:
            return "idle"
        now = time.monotonic()
        spent = steps >= Config.slice_steps or now - started >= Config.slice_seconds
        if Config.stopping or (spent and not waiting):
            alone = now - held < Config.hold and not client.llen(QUEUE_KEY)
            if alone and not Config.stopping:  # no other slice waits: no need to hand over
                started, steps = now, 0
                continue
            if worker.trainer.step != worker.saved_step:
                worker.save("periodic", weights=False)  # where the next slice starts
            return "more"
        if (wait := worker.wait_time()) > 0:  # paced: a command is read within 50 ms
            time.sleep(min(wait, 0.05))
            continue
        worker.one_step()
        out.flush(worker.trainer.step)
        steps += 1
    return "idle"
