"""The Dramatiq actor: a slice of a training session, on whichever worker takes it.

A slice loads the session's newest checkpoint, obeys the commands waiting for it, trains at
most ``slice_steps`` steps (or ``slice_seconds``), saves a checkpoint and queues the next
slice at the back of the queue, so every run of a class moves on and a paused run frees its
worker; with no other slice waiting, it goes on training instead of handing over. The
training itself is ``app.trainer_process.TrainerProcess``, the embedded worker's loop,
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

from app.jobs import sessions as keys
from app.jobs import wire
from app.trainer_process import TrainerProcess
from engine import EngineError, Trainer

log = logging.getLogger(__name__)
NAMESPACE = f"{keys.PREFIX}:dramatiq"
QUEUE_KEY = f"{NAMESPACE}:{keys.QUEUE}"  # the broker's list of the slices waiting (dispatch.lua)


def make_broker(url: str, heartbeat_timeout: float, maintenance_chance: int) -> RedisBroker:
    """Dramatiq's Redis broker. ``heartbeat_timeout`` (s): how long a silent worker counts as
    alive (its slices are redelivered after it); ``maintenance_chance`` (per million broker
    commands): how often a command also re-queues dead workers' messages."""
    return RedisBroker(
        url=url,
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
    trip; a checkpoint is kept in the session in the same transaction as its message."""

    def __init__(self, client: redis.Redis, sid: str, run: int, maxlen: int, sent: int):
        self.client, self.sid, self.maxlen = client, sid, maxlen
        self.key = keys.stream_key(run)
        self.pending: list[dict] = []
        self.keep: dict[str, str] | None = None
        # messages of the session sent so far, by every slice: each entry is numbered, so a
        # reader that fell further behind than MAXLEN sees the gap
        self.sent = sent

    def send(self, message: tuple[str, dict[str, Any]]) -> None:
        kind, payload = message
        fields = wire.encode(kind, payload, self.sid)
        fields["q"] = str(self.sent + len(self.pending))
        self.pending.append(fields)

    def flush(self) -> None:
        if not self.pending and self.keep is None:
            return
        sent = self.sent + len(self.pending)
        with self.client.pipeline(transaction=True) as pipe:
            for fields in self.pending:
                pipe.xadd(self.key, fields, maxlen=self.maxlen, approximate=True)
            pipe.hset(keys.session_key(self.sid), mapping={**(self.keep or {}), "sent": sent})
            pipe.execute()
        self.pending, self.keep, self.sent = [], None, sent


class SliceTrainer(TrainerProcess):
    """The embedded loop, whose every checkpoint is also the session's restart point."""

    out: Stream

    saved_step = -1  # the step of the newest checkpoint saved in the session
    applied = 0  # commands on the session's list applied so far (the one being applied too)

    def save(self, reason: str, weights: bool = True) -> None:
        """Also the session's restart point: the checkpoint, the loop, the commands seen."""
        super().save(reason, weights)
        self.saved_step = self.trainer.step
        self.out.keep = {
            "ckpt": self.last_checkpoint,
            "loop": json.dumps(self.loop_state()),
            "applied": self.applied,
        }

    def reply(self, ok: bool, reason: str | None = None) -> None:
        self.send("reply", ok=ok, step=self.trainer.step, reason=reason, cmd=self.applied - 1)

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
    out = Stream(client, sid, int(fields[b"run"]), Config.maxlen, int(fields.get(b"sent", 0)))
    applied = int(fields.get(b"applied", 0))
    worker = None
    try:
        worker = SliceTrainer(
            Trainer.from_dict(json.loads(fields[b"ckpt"])), out, json.loads(fields[b"opts"])
        )
        worker.restore_loop(json.loads(fields[b"loop"]))
        worker.saved_step, worker.applied = worker.trainer.step, applied
        here = {"pid": os.getpid(), "host": socket.gethostname()}
        worker.send("ready", **here, step=worker.trainer.step, replay=claimed == 2)
        out.flush()
        outcome = _serve(client, worker, lease, commands, token, lease_ms)
        applied = worker.applied
        if outcome != "lost" and out.keep is None:  # where the next slice starts
            out.keep = {"loop": json.dumps(worker.loop_state()), "applied": applied}
    except EngineError as e:
        outcome = _fail(out, str(e))
    except redis.RedisError:
        raise  # retried once Redis is back and this slice's lease has expired (declare)
    except Exception as e:
        log.exception("slice %s of session %s failed", n, sid)
        outcome = _fail(out, f"training failed: {type(e).__name__}: {e}")
    out.flush()
    if outcome == "lost":
        return
    after = client.eval(keys.YIELD, 3, session, lease, commands, token, outcome, applied)
    if after > 0:
        Config.actor.send(sid, after)


def _fail(out: Stream, message: str) -> str:
    out.send(("error", {"message": message}))
    return "idle"


def _serve(client, worker: SliceTrainer, lease, commands, token, lease_ms) -> str:
    """Commands, then steps, until the slice is spent ("more"), nothing is left to do or the
    session is shut down ("idle"), or another worker has it ("lost")."""
    out: Stream = worker.out
    started, steps = time.monotonic(), 0
    while True:
        waiting = client.eval(keys.RENEW, 2, lease, commands, token, lease_ms, worker.applied)
        if waiting is None:
            log.warning("%s: the lease went to another worker", commands)
            return "lost"
        for raw in waiting:
            kind, payload = json.loads(raw)
            worker.applied += 1
            if kind == "shutdown":
                return "idle"
            worker.handle(kind, payload)
        out.flush()
        if not worker.running:
            return "idle"
        spent = steps >= Config.slice_steps or time.monotonic() - started >= Config.slice_seconds
        if spent and not waiting:
            if not client.llen(QUEUE_KEY):  # no other slice waits: no need to hand over
                started, steps = time.monotonic(), 0
                continue
            if worker.trainer.step != worker.saved_step:
                worker.save("periodic", weights=False)  # where the next slice starts
            return "more"
        if (wait := worker.wait_time()) > 0:  # paced: a command is read within 50 ms
            time.sleep(min(wait, 0.05))
            continue
        worker.one_step()
        out.flush()
        steps += 1
