"""A run's milestones: what its own history says happened, and when (app.lesson.milestones)."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from app.contract.api import MilestoneOut, MilestonesOut
from app.lesson.story import milestones_of, story_of
from app.web.deps import ServiceDep

router = APIRouter(tags=["api"])


@router.get("/milestones", response_model=MilestonesOut)
async def get_milestones(service: ServiceDep) -> MilestonesOut:
    """The first step whose smoothed loss (the chart's EMA) is under ln V (``below_uniform``);
    each change of the top guess after "e" (``top_guess``); the best held-out loss
    (``best_held_out``); the step where the model started memorising (``memorising``: the
    held-out loss 10% above its best while the smoothed training loss kept falling). Computed
    afresh on each call: while training, it grows with the run."""
    story = story_of(service)  # on the event loop: one consistent instant
    found = await run_in_threadpool(milestones_of, story)
    return MilestonesOut(
        milestones=[MilestoneOut(step=m.step, kind=m.kind, text=m.text) for m in found]
    )
