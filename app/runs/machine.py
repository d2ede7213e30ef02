"""A run's status machine and its segment's: ``(status, command) → status``, two tables.

Every start of training goes through ``queued``: a run waits there until the scheduler gives it
a worker (``grant``), at once when one is free. A cell missing from the table is a refusal,
and ``REFUSALS`` says why in words the API and the page show.

::

    idle ─train/step─▶ queued ─grant─▶ training ─finish/diverge/stop─▶ idle
                         │               │ pause                 ▲
                         │ pause         ▼                       │
                         └──────────▶ paused ─resume/step─▶ queued
    training ─worker_lost─▶ failed ─resume─▶ queued       training/queued ─interrupt─▶ interrupted

A segment (one Train of N steps, or one Step once) has its own, stored, status: ``SEGMENT``
maps ``(segment status, what happened) → segment status``; done, stopped and diverged are
final.

::

    queued ─start─▶ running ─finish─▶ done     running ─diverge─▶ diverged
      ▲  │             │ pause/stepped             running ─fail─▶ failed
      │  └─pause─▶ paused ◀─┘        queued/running ─stop─▶ stopped
      └─requeue── paused/interrupted/failed ─abandon─▶ stopped
    queued/running ─interrupt─▶ interrupted
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


RESUMABLE = tuple(str(s) for s in SUSPENDED)  # as the page's templates compare them


class SegmentStatus(StrEnum):
    queued = "queued"  # created, or resumed: waiting for a worker
    running = "running"  # a worker is stepping it
    paused = "paused"  # by request, or after a step of Step once
    interrupted = "interrupted"  # the server stopped during it: resumes from its checkpoint
    failed = "failed"  # its worker died: resumes from its checkpoint
    done = "done"  # its last step is done
    stopped = "stopped"  # by request, or abandoned for a new segment
    diverged = "diverged"  # a non-finite loss ended it


class SegmentEvent(StrEnum):
    requeue = "requeue"  # resume (or a step) of the suspended segment
    start = "start"  # the run was given a worker
    pause = "pause"
    stepped = "stepped"  # one step of Step once, and the segment goes on
    finish = "finish"
    stop = "stop"
    abandon = "abandon"  # a new segment (or a stop) supersedes a suspended one
    interrupt = "interrupt"  # the server stops (or stopped) during it
    fail = "fail"
    diverge = "diverge"


G, E = SegmentStatus, SegmentEvent
SEGMENT_SUSPENDED = (G.paused, G.interrupted, G.failed)
SEGMENT_FINAL = (G.done, G.stopped, G.diverged)

SEGMENT: dict[tuple[SegmentStatus, SegmentEvent], SegmentStatus] = {
    **{(g, E.requeue): G.queued for g in SEGMENT_SUSPENDED},
    (G.queued, E.start): G.running,
    (G.queued, E.pause): G.paused,
    (G.running, E.pause): G.paused,
    (G.running, E.stepped): G.paused,
    # the worker's last step may land after a shutdown or a pause began
    **{(g, E.finish): G.done for g in (G.running, G.paused, G.interrupted)},
    (G.queued, E.stop): G.stopped,
    (G.running, E.stop): G.stopped,
    **{(g, E.abandon): G.stopped for g in (G.queued, *SEGMENT_SUSPENDED)},
    **{(g, E.interrupt): G.interrupted for g in (G.queued, G.running, G.interrupted)},
    (G.running, E.fail): G.failed,
    **{(g, E.diverge): G.diverged for g in (G.running, G.paused, G.interrupted)},
}


class SegmentRefused(Exception):
    """``event`` cannot happen to a segment in ``status``."""

    def __init__(self, status: SegmentStatus, event: SegmentEvent):
        self.status, self.event = status, event
        super().__init__(f"a {status} segment cannot {event}")


def segment_allows(status: SegmentStatus | str, event: SegmentEvent) -> bool:
    return (SegmentStatus(status), event) in SEGMENT


def segment_transition(status: SegmentStatus | str, event: SegmentEvent) -> SegmentStatus:
    """The segment's status after ``event``; SegmentRefused if the table has no such cell."""
    try:
        return SEGMENT[SegmentStatus(status), event]
    except KeyError:
        raise SegmentRefused(SegmentStatus(status), event) from None
