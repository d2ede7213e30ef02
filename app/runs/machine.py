"""A run's status machine: ``(status, command) → status``, one table, nothing else.

Every start of training goes through ``queued``: a run waits there until the scheduler gives it
a worker (``grant``), at once when one is free. A cell missing from the table is a refusal,
and ``REFUSALS`` says why in words the API and the page show.

::

    idle ─train/step─▶ queued ─grant─▶ training ─finish/diverge/stop─▶ idle
                         │               │ pause                 ▲
                         │ pause         ▼                       │
                         └──────────▶ paused ─resume/step─▶ queued
    training ─worker_lost─▶ failed ─resume─▶ queued       training/queued ─interrupt─▶ interrupted
"""

from enum import StrEnum


class Status(StrEnum):
    idle = "idle"  # no segment under way (the model may be trained)
    queued = "queued"  # waiting for a worker (the scheduler's FIFO)
    training = "training"  # a worker is stepping it
    paused = "paused"  # suspended by request; its worker is freed
    interrupted = "interrupted"  # cut off by a restart: resumes from its last checkpoint
    failed = "failed"  # its worker died: resumes from its last checkpoint


class Command(StrEnum):
    train = "train"  # a new segment of N steps
    step = "step"  # one step (of the suspended segment, else a new 1-step one)
    resume = "resume"
    grant = "grant"  # the scheduler gave it a worker
    pause = "pause"
    stop = "stop"
    finish = "finish"  # the segment's last step is done (also after a single step of a new one)
    stepped = "stepped"  # a single step of a segment that goes on: it stays suspended
    diverge = "diverge"  # a non-finite loss ended the segment, back at the last checkpoint
    worker_lost = "worker_lost"
    interrupt = "interrupt"  # the server stops (or stopped) while it trained or waited


S, C = Status, Command
SUSPENDED = (S.paused, S.interrupted, S.failed)  # a segment that can resume

TABLE: dict[tuple[Status, Command], Status] = {
    (S.idle, C.train): S.queued,
    (S.idle, C.step): S.queued,
    **{(s, C.train): S.queued for s in SUSPENDED},  # abandons the suspended segment
    **{(s, C.step): S.queued for s in SUSPENDED},
    **{(s, C.resume): S.queued for s in SUSPENDED},
    **{(s, C.stop): S.idle for s in SUSPENDED},
    (S.queued, C.grant): S.training,
    (S.queued, C.pause): S.paused,
    (S.queued, C.stop): S.idle,
    (S.queued, C.interrupt): S.interrupted,
    (S.training, C.pause): S.paused,
    (S.training, C.stop): S.idle,
    (S.training, C.finish): S.idle,
    (S.training, C.stepped): S.paused,
    (S.training, C.diverge): S.idle,
    (S.training, C.worker_lost): S.failed,
    (S.training, C.interrupt): S.interrupted,
}

REFUSALS: dict[Command, str] = {
    C.train: "pause or stop the run first",
    C.step: "pause the run first",
    C.resume: "only a paused, interrupted or failed run resumes",
    C.grant: "only a queued run can be given a worker",
    C.pause: "only a training or queued run can be paused",
    C.stop: "no segment to stop",
    C.finish: "only a training run finishes",
    C.stepped: "only a training run takes a step",
    C.diverge: "only a training run diverges",
    C.worker_lost: "only a training run has a worker",
    C.interrupt: "only a training or queued run is interrupted",
}


class Refused(Exception):
    """``command`` is not possible in ``status``; ``reason`` says why."""

    def __init__(self, status: Status, command: Command):
        self.status, self.command, self.reason = status, command, REFUSALS[command]
        super().__init__(f"cannot {command} while {status}: {self.reason}")


def allows(status: Status, command: Command) -> bool:
    return (status, command) in TABLE


def transition(status: Status, command: Command) -> Status:
    """The status after ``command``; Refused if the table has no such cell."""
    try:
        return TABLE[status, command]
    except KeyError:
        raise Refused(status, command) from None
