"""A run's milestones, read off what its service keeps: the loss history (with the chart's own
EMA), the held-out points and the "e" probe's distribution after every step.

``story_of`` copies those on the event loop (cheap: slices of lists the bridge only appends
to there); ``milestones_of`` does the arithmetic, in a worker thread for a long history.
"""

from dataclasses import dataclass

from app.lesson.milestones import Milestone, held_out, milestones
from app.runs.service import RunService

PROBE = "e"  # the probe whose top guess the milestones follow (the "e" card's)


@dataclass(frozen=True)
class RunStory:
    """What the milestones are computed from, one consistent instant of a run."""

    smooth: list[tuple[int, float]]  # (step, smoothed loss) for every step
    val: list[tuple[int, float]]  # (step, held-out loss)
    probe: tuple[list[int], list]  # steps and the distributions after PROBE
    labels: list[str]
    vocab_size: int


def story_of(service: RunService) -> RunStory:
    labels = service.tokenizer.labels() if service.tokenizer else []
    probe = service.probe_line(PROBE) if PROBE in service.probes else ([], [])
    return RunStory(
        smooth=[(s, m) for s, _, m in service.history],
        val=list(service.validation),
        probe=probe,
        labels=labels,
        vocab_size=len(labels),
    )


def milestones_of(story: RunStory) -> list[Milestone]:
    if story.vocab_size == 0:
        return []
    return milestones(
        story.smooth, story.val, story.probe, story.vocab_size, story.labels.__getitem__, PROBE
    )


def run_milestones(service: RunService) -> list[Milestone]:
    """Every milestone of the run's model so far, in step order."""
    return milestones_of(story_of(service))


def run_memorised(service: RunService) -> Milestone | None:
    """Where the run's model began memorising its own documents, if it has (the held-out rule
    alone: no probe line to scan)."""
    smooth = {s: m for s, _, m in service.history}
    return held_out(service.validation, smooth.get)[1]
