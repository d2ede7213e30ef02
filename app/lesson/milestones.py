"""Milestones: what a run's own history says happened, and when (never written by hand).

Four kinds, each read off numbers the service already keeps:

- ``below_uniform``  the first step whose smoothed loss (the chart's EMA) is under ln V, the loss
                     of a uniform guess over the V tokens: the model now beats guessing.
- ``top_guess``      every step after which the most likely next character after the probe
                     prefix ("e") differs from the step before's, and what it became.
- ``best_held_out``  the step whose held-out loss is the lowest so far (one milestone: the best).
- ``memorising``     the first held-out point at least ``MEMORISING_RISE`` above the best one
                     before it, while the smoothed training loss is still lower than it was at that
                     best point: the model is learning its own documents, not names in general.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

MEMORISING_RISE = 0.10  # held-out loss this far (10%) above its best counts as memorising
KINDS = ("below_uniform", "top_guess", "best_held_out", "memorising")


@dataclass(frozen=True)
class Milestone:
    step: int
    kind: str
    text: str


def below_uniform(smooth: Sequence[tuple[int, float]], vocab_size: int) -> Milestone | None:
    """The first (step, smoothed loss) under ln V."""
    uniform = math.log(vocab_size)
    for step, value in smooth:
        if value < uniform:
            return Milestone(
                step,
                "below_uniform",
                f"The smoothed loss ({value:.2f}) fell below {uniform:.2f}, the loss of a uniform "
                f"guess over {vocab_size} tokens (ln {vocab_size}): the model now beats guessing.",
            )
    return None


def argmax(probs: Sequence[float]) -> int:
    """The first index of the largest probability."""
    best = 0
    for i, p in enumerate(probs):
        if p > probs[best]:
            best = i
    return best


def top_guesses(
    steps: Sequence[int], dists: Sequence[Sequence[float]], label, prefix: str
) -> list[Milestone]:
    """One milestone per step whose top guess after ``prefix`` differs from the previous step's."""
    found, previous = [], None
    for step, probs in zip(steps, dists, strict=True):
        top = argmax(probs)
        if previous is not None and top != previous:
            found.append(
                Milestone(
                    step,
                    "top_guess",
                    f"After “{prefix}” the top guess changed from “{label(previous)}” to "
                    f"“{label(top)}” ({probs[top]:.0%}).",
                )
            )
        previous = top
    return found


def held_out(
    val: Sequence[tuple[int, float]], smooth_at
) -> tuple[Milestone | None, Milestone | None]:
    """The best held-out point, and the first point where memorising began (or None)."""
    best: tuple[int, float] | None = None
    memorising = None
    for step, loss in val:
        if best is not None and memorising is None and loss >= best[1] * (1 + MEMORISING_RISE):
            then, now = smooth_at(best[0]), smooth_at(step)
            if then is not None and now is not None and now < then:
                rise = loss / best[1] - 1
                memorising = Milestone(
                    step,
                    "memorising",
                    f"Memorising: the held-out loss ({loss:.2f}) is {rise:.0%} above its best "
                    f"({best[1]:.2f} at step {best[0]}) while the training loss keeps falling "
                    f"({then:.2f} → {now:.2f}). It is learning its own documents by heart.",
                )
        if best is None or loss < best[1]:
            best = (step, loss)
    if best is None:
        return None, memorising
    first = Milestone(
        best[0],
        "best_held_out",
        f"Best held-out loss: {best[1]:.2f} on documents it never trained on.",
    )
    return first, memorising


def milestones(
    history: Sequence[tuple[int, float]],
    val: Sequence[tuple[int, float]],
    probe: tuple[Sequence[int], Sequence[Sequence[float]]],
    vocab_size: int,
    label,
    prefix: str = "e",
) -> list[Milestone]:
    """Every milestone of a run, in step order.

    ``history``: (step, smoothed loss) for every step; ``val``: (step, held-out loss);
    ``probe``: the steps and next-token distributions after ``prefix``; ``label(i)``: token i's
    display label.
    """
    smooth = dict(history)
    found = [below_uniform(history, vocab_size), *held_out(val, smooth.get)]
    found += top_guesses(*probe, label, prefix)
    return sorted((m for m in found if m is not None), key=lambda m: (m.step, KINDS.index(m.kind)))


def memorised(found: Sequence[Milestone]) -> Milestone | None:
    """The memorising milestone, if the run reached one."""
    return next((m for m in found if m.kind == "memorising"), None)
