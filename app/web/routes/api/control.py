"""A run's state and its training commands: train, pause, resume, stop, step, pace, reset."""

from fastapi import APIRouter, Request

from app.contract.api import PaceIn, ResetIn, TrainIn
from app.contract.events import StateOut
from app.web.deps import ControlDep, RunsDep, ServiceDep, requester
from app.web.routes.api.responses import COMMAND, FORBIDDEN, INVALID

router = APIRouter(tags=["api"])


@router.get("/state", response_model=StateOut)
async def get_state(service: ServiceDep) -> StateOut:
    """The run's status, step, current/latest segment, model config, parameter count, worker
    pid, and its place in the queue while it waits for a worker."""
    return service.state()


@router.post("/train", response_model=StateOut, responses={**COMMAND, **INVALID})
async def train(body: TrainIn, service: ControlDep) -> StateOut:
    """Start a segment of ``steps`` steps (default: the run's setting) from the current weights
    and Adam state, at once if a worker is free, else queued (``status`` says which).

    The cosine learning-rate schedule spans exactly this segment. 409 while it trains.
    """
    return await service.train(body.steps, body.lr)


@router.post("/pause", response_model=StateOut, responses=COMMAND)
async def pause(service: ControlDep) -> StateOut:
    """Pause the training run after its current step (a checkpoint is written)."""
    return await service.pause()


@router.post("/resume", response_model=StateOut, responses=COMMAND)
async def resume(service: ControlDep) -> StateOut:
    """Continue a paused, interrupted or failed run (the latter two from the last checkpoint)."""
    return await service.resume()


@router.post("/stop", response_model=StateOut, responses=COMMAND)
async def stop(service: ControlDep) -> StateOut:
    """End the current run where it is; the model keeps its weights."""
    return await service.stop()


@router.post("/step", response_model=StateOut, responses=COMMAND)
async def single_step(service: ControlDep) -> StateOut:
    """One step: of the paused run, or else a run of one step."""
    return await service.single_step()


@router.post("/pace", response_model=StateOut, responses={**INVALID, **FORBIDDEN})
async def pace(body: PaceIn, service: ControlDep) -> StateOut:
    """Cap the training speed at ``steps_per_sec`` (0.5..200), or null for full speed.

    Applies at once, also mid-run, and holds across pause/resume (not across a server restart).
    Speeds and ETAs in step events stay measured, so they show the capped rate.
    """
    return await service.set_pace(body.steps_per_sec)


@router.post("/reset", response_model=StateOut, responses={**COMMAND, **INVALID})
async def reset(
    request: Request, runs: RunsDep, service: ControlDep, body: ResetIn | None = None
) -> StateOut:
    """A new run with this run's settings (new seed optional; default: the same one): it becomes
    the default run and its state is the answer. This run is kept, unchanged."""
    new = await runs.reset(service, body.seed if body else None, by=requester(request))
    return new.state()
