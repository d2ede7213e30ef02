"""What a step sends that its instruments (``app.jobs.instruments``) are part of: its event,
built here, in the training process, once; and the held-out loss, on the steps that measure it.
And a checkpoint's message."""

from app.contract.events import MatrixHealth, Probe, StepEvent
from app.contract.worker import Checkpoint, Frame, Validation
from app.jobs.instruments import Measured
from engine import Trainer


def event_fields(t: Trainer, rec, segment, rate, elapsed, now) -> dict:
    """The step's event as of the step, but for its instruments (``step_event``)."""
    return dict(
        **StepEvent.fields_of(rec, t.tokenizer.label),
        segment=segment,
        run_step=rec.run_step,
        run_steps=rec.run_steps,
        total=t.run_start + t.run_steps,
        lr=rec.lr,
        step_time=rec.elapsed,
        steps_per_sec=rate,
        elapsed=elapsed,
        eta=t.run_remaining / rate if rate > 0 else 0.0,
        t=now,
    )


def step_event(fields: dict, probes: list[str], measured: Measured) -> StepEvent:
    """The step's event, the one place it is built: what the step did, its speed, each probe's
    next-character distribution after it (every step: the probe lines and the milestones read
    them, and the store keeps them) and the matrices' health."""
    return StepEvent(
        **fields,
        probes=[Probe(prefix=p, probs=d) for p, d in zip(probes, measured.dists, strict=True)],
        health=[MatrixHealth(name=n, grad_norm=g, update_ratio=r) for n, g, r in measured.health],
    )


def held_out(step: int, measured: Measured) -> Validation | None:
    return None if measured.held_out is None else Validation(step=step, loss=measured.held_out)


def checkpoint_message(
    t: Trainer, run_id: int | None, reason: str, elapsed: float, meta: str, state: tuple
) -> Checkpoint:
    """The trainer's checkpoint: its JSON without the state (``meta``), the state (weights, m,
    v) apart, and the frame of its last step if it is the checkpoint's."""
    frame = t.last_frame if t.last_frame is not None and t.last_frame.step == t.step else None
    made = None
    if frame is not None:
        made = Frame(step=frame.step, tokens=frame.tokens, before=frame.before, grads=frame.grads)
    values, m, v = state
    return Checkpoint(
        step=t.step,
        run_id=run_id,
        reason=reason,
        data=meta,
        weights=values,
        elapsed=elapsed,
        frame=made,
        m=m,
        v=v,
    )
